//! Criterion benches of the per-message hot paths (the speed targets in docs/benchmarks.md).
//!
//! * `webhook/*`: what a webhook does per message in process — verify the signature, decrypt
//!   (secure and compatible modes), parse the XML or JSON, normalize, and serialize for SQS
//!   (JSON body, group id, deduplication id) — for one typical customer text message.
//! * `service/*`: the same through the full `WebhookService::handle` (account lookup, the
//!   pipeline, the publisher port), with a cached accounts document (as the Secrets Manager
//!   adapter serves it once warm) and an in-memory publisher that does the SQS adapter's
//!   serialization.
//! * `parts/*`: the pieces of the secure-mode path, to see where the time goes.
//! * `router/*`: `rules::evaluate` on the shipped `config/rules.yaml`, and the router's whole
//!   per-message computation (decode, evaluate, apply).
//!
//! Run: `cargo bench -p gateway-core` (`bash bench/run.sh` also writes `docs/benchmarks.md`).

mod common;

use common::*;
use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use gateway_core::channel::{sorted_sha1_hex, wechat, xml};
use gateway_core::message::Channel;
use std::time::Duration;

fn webhook(c: &mut Criterion) {
    let mut g = c.benchmark_group("webhook");
    g.throughput(Throughput::Elements(1));
    let plain = wechat_plaintext();
    g.bench_function("wechat_plaintext", |b| {
        b.iter(|| wechat_hot_path(black_box(&plain)).len())
    });
    let secure = wechat_secure();
    g.bench_function("wechat_secure", |b| {
        b.iter(|| wechat_hot_path(black_box(&secure)).len())
    });
    let compatible = wechat_compatible();
    g.bench_function("wechat_compatible", |b| {
        b.iter(|| wechat_hot_path(black_box(&compatible)).len())
    });
    let weibo = weibo_json();
    g.bench_function("weibo_json", |b| {
        b.iter(|| weibo_hot_path(black_box(&weibo)).len())
    });
    g.finish();
}

fn full_service(c: &mut Criterion) {
    let mut g = c.benchmark_group("service");
    g.throughput(Throughput::Elements(1));
    let wechat = service(Channel::WeChat);
    for (name, f) in [
        ("wechat_plaintext_handle", wechat_plaintext()),
        ("wechat_secure_handle", wechat_secure()),
    ] {
        let inbound = f.request.as_inbound(f.account_id, RECEIVED_AT_MS);
        g.bench_function(name, |b| {
            b.iter(|| {
                let reply = ready(wechat.handle(black_box(&inbound)));
                assert_eq!(reply.status, 200);
                reply
            })
        });
    }
    let weibo = service(Channel::Weibo);
    let f = weibo_json();
    let inbound = f.request.inbound(f.account_id);
    g.bench_function("weibo_json_handle", |b| {
        b.iter(|| {
            let reply = ready(weibo.handle(black_box(&inbound)));
            assert_eq!(reply.status, 200);
            reply
        })
    });
    g.finish();
}

fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("parts");
    let f = wechat_secure();
    let q = &f.request.query;
    let token = f.account.token.expose().to_string();
    g.bench_function("signature_sha1", |b| {
        b.iter(|| sorted_sha1_hex(black_box(&[&token, &q["timestamp"], &q["nonce"]])))
    });
    g.bench_function("outer_xml_parse", |b| {
        b.iter(|| xml::parse_fields(black_box(&f.request.body)).map(|d| d.len()))
    });
    let outer = xml::parse_fields(&f.request.body).expect("outer");
    let encrypt = outer.get("Encrypt").expect("Encrypt").to_string();
    let key_text = f
        .account
        .encoding_aes_key
        .as_ref()
        .expect("secure account has a key")
        .expose()
        .to_string();
    g.bench_function("aes_key_derive", |b| {
        b.iter(|| wechat::crypto::AesKey::from_encoding_aes_key(black_box(&key_text)))
    });
    let key = wechat::crypto::AesKey::from_encoding_aes_key(&key_text).expect("key");
    g.bench_function("aes_decrypt", |b| {
        b.iter(|| wechat::crypto::decrypt_for(&key, &f.account.app_id, black_box(&encrypt)))
    });
    let inner = String::from_utf8(
        wechat::crypto::decrypt_for(&key, &f.account.app_id, &encrypt).expect("decrypts"),
    )
    .expect("utf-8");
    g.bench_function("inner_xml_parse", |b| {
        b.iter(|| xml::parse_fields(black_box(inner.as_bytes())).map(|d| d.len()))
    });
    let received = wechat::parse::Received {
        account_id: f.account_id,
        received_at_ms: RECEIVED_AT_MS,
    };
    g.bench_function("normalize_with_parse", |b| {
        b.iter(|| wechat::parse::normalize(black_box(&inner), received).map(|m| m.sender_id))
    });
    let message = normalized(&f);
    g.bench_function("sqs_serialize", |b| {
        b.iter(|| SqsPayload::of(black_box(&message)).len())
    });
    g.finish();
}

fn router(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(1));
    let f = router_fixture();
    let at = chrono::DateTime::from_timestamp_millis(f.message.received_at_ms).unwrap_or_default();
    g.bench_function("evaluate_first_message", |b| {
        b.iter(|| gateway_core::rules::evaluate(&f.rules, black_box(&f.message), None, at))
    });
    g.bench_function("evaluate_ongoing", |b| {
        b.iter(|| {
            gateway_core::rules::evaluate(&f.rules, black_box(&f.message), Some(&f.ongoing), at)
        })
    });
    g.bench_function("compute_ongoing", |b| {
        b.iter_batched(
            || (),
            |()| router_compute(black_box(&f), Some(&f.ongoing)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    // Short windows: the machine has two cores shared with builds; callgrind gives the
    // repeatable figures (bench/run.sh).
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = webhook, full_service, parts, router
}
criterion_main!(benches);
