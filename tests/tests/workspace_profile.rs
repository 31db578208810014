//! The release profile keeps every function binary stripped: Cargo drops `strip` from a binary
//! whose own crate has a `[profile.release.package.<name>]` override (measured: +2.3 MB of
//! symbols in `wechat-webhook`, against a zip limit with about 120 KB to spare), so no
//! function crate may have one.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn no_function_crate_has_a_release_profile_override() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("\nstrip = true"),
        "the release profile strips"
    );
    let functions: Vec<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(functions.len() >= 5, "{functions:?}");
    for f in &functions {
        for header in [
            format!("[profile.release.package.{f}]"),
            format!("[profile.release.package.\"{f}\"]"),
        ] {
            assert!(
                !manifest.contains(&header),
                "{header} would leave {f} unstripped"
            );
        }
    }
}
