//! Replays every input kept under `fuzz/regressions/<target>/` through the same harness the
//! cargo-fuzz targets run (`fuzz/src/harness.rs`, included by path): seeded with hostile
//! inputs (entity bombs, deep nesting, YAML alias bombs, bad crypto framing) and extended by
//! `fuzz/run.sh` with every crash it finds. Each input must finish without a panic, quickly.
#![allow(clippy::unwrap_used)]

#[path = "../../../fuzz/src/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn every_kept_fuzz_input_runs_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut ran = 0;
    for target in ["wechat_xml", "wechat_decrypt", "weibo_json", "rules_yaml"] {
        let dir = root.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        inputs.sort();
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let started = Instant::now();
            harness::run(target, &data);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{}: took {:?}",
                input.display(),
                started.elapsed()
            );
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} regression inputs");
}
