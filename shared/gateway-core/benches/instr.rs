//! Callgrind harness (a `harness = false` bench target, so it builds with the bench profile
//! and only gateway-core's dependencies): runs one hot-path scenario N times, so that
//! `valgrind --tool=callgrind` counts its instructions. Two runs with different N give the
//! instructions per message as (I(N2) - I(N1)) / (N2 - N1): fixture setup (accounts, rules
//! compilation, simulated encryption) cancels out. Instruction counts do not depend on the
//! machine's load, unlike wall-clock time.
//!
//! The scenarios are the criterion benches' (`benches/common/mod.rs`), so both measure the same
//! code. `bench/run.sh` finds the binary with `cargo bench --no-run` and runs it under
//! valgrind; `cargo bench` itself runs it with `--bench`, which does nothing.
//!
//! ```text
//! instr <scenario> <iterations>
//! instr list
//! instr fixture <wechat_plaintext|wechat_secure>   # JSON for bench/wechatpy_compare.py
//! ```

mod common;

use common::*;
use gateway_core::message::Channel;
use std::hint::black_box;
use std::process::ExitCode;

const SCENARIOS: &[&str] = &[
    "wechat_plaintext",
    "wechat_secure",
    "wechat_compatible",
    "weibo_json",
    "service_wechat_secure",
    "service_weibo_json",
    "router_evaluate_first",
    "router_evaluate_ongoing",
    "router_compute_ongoing",
];

fn run(scenario: &str, n: u64) -> Result<usize, String> {
    let mut sink = 0usize;
    match scenario {
        "wechat_plaintext" | "wechat_secure" | "wechat_compatible" => {
            let f = match scenario {
                "wechat_plaintext" => wechat_plaintext(),
                "wechat_secure" => wechat_secure(),
                _ => wechat_compatible(),
            };
            for _ in 0..n {
                sink += wechat_hot_path(black_box(&f)).len();
            }
        }
        "weibo_json" => {
            let f = weibo_json();
            for _ in 0..n {
                sink += weibo_hot_path(black_box(&f)).len();
            }
        }
        "service_wechat_secure" => {
            let svc = service(Channel::WeChat);
            let f = wechat_secure();
            let inbound = f.request.as_inbound(f.account_id, RECEIVED_AT_MS);
            for _ in 0..n {
                sink += ready(svc.handle(black_box(&inbound))).status as usize;
            }
        }
        "service_weibo_json" => {
            let svc = service(Channel::Weibo);
            let f = weibo_json();
            let inbound = f.request.inbound(f.account_id);
            for _ in 0..n {
                sink += ready(svc.handle(black_box(&inbound))).status as usize;
            }
        }
        "router_evaluate_first" | "router_evaluate_ongoing" => {
            let f = router_fixture();
            let at = chrono::DateTime::from_timestamp_millis(f.message.received_at_ms)
                .unwrap_or_default();
            let conversation = (scenario == "router_evaluate_ongoing").then_some(&f.ongoing);
            for _ in 0..n {
                let d = gateway_core::rules::evaluate(
                    &f.rules,
                    black_box(&f.message),
                    conversation,
                    at,
                );
                sink += d.fired.len();
            }
        }
        "router_compute_ongoing" => {
            let f = router_fixture();
            for _ in 0..n {
                sink += router_compute(black_box(&f), Some(&f.ongoing))
                    .1
                    .recent_dedupe_ids
                    .len();
            }
        }
        other => return Err(format!("unknown scenario `{other}`; try `instr list`")),
    }
    Ok(sink)
}

/// The request of a WeChat fixture and its account, for the Python comparison.
fn fixture_json(which: &str) -> Result<String, String> {
    let f = match which {
        "wechat_plaintext" => wechat_plaintext(),
        "wechat_secure" => wechat_secure(),
        other => return Err(format!("no fixture `{other}`")),
    };
    let body = String::from_utf8(f.request.body.clone()).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "account_id": f.account_id,
        "token": f.account.token.expose(),
        "encoding_aes_key": f.account.encoding_aes_key.as_ref().map(|k| k.expose()),
        "app_id": f.account.app_id,
        "query": f.request.query,
        "body": body,
    })
    .to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bench") {
        // `cargo bench` runs every bench target; this one is driven by bench/run.sh.
        println!("instr: callgrind harness, run by bench/run.sh (nothing to do under cargo bench)");
        return ExitCode::SUCCESS;
    }
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for s in SCENARIOS {
                println!("{s}");
            }
            Ok(())
        }
        ["fixture", which] => fixture_json(which).map(|j| println!("{j}")),
        [scenario, n] => match n.parse::<u64>() {
            Ok(n) => run(scenario, n).map(|sink| {
                black_box(sink);
            }),
            Err(_) => Err(format!("iterations must be a number, got `{n}`")),
        },
        _ => Err("usage: instr <scenario> <iterations> | instr list | instr fixture <name>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("instr: {e}");
            ExitCode::FAILURE
        }
    }
}
