#!/usr/bin/env bash
# Licenses and duplicate crates (deny.toml), offline: no advisory database is fetched.
#   bash tools/deny.sh    (or make deny)
# Installs the pinned cargo-deny from crates.io first when it is missing or another version
# (it compiles: about 8 minutes on this 2-core machine, once per machine).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DENY_VERSION=0.20.2
if [ "$(cargo deny --version 2>/dev/null || true)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  echo "==> installing cargo-deny $CARGO_DENY_VERSION (cargo install --locked)" >&2
  # Its own temporary target directory, never the workspace's.
  env -u CARGO_TARGET_DIR cargo install --quiet --locked "cargo-deny@$CARGO_DENY_VERSION"
fi
# cargo-deny reads the graph of every target (cargo metadata), so the crates of targets never
# built here (Windows, macOS, wasm) must be in the local registry: fetch them from crates.io
# (only what is missing; no advisory database). Then the check itself runs offline, and
# --frozen also fails on a Cargo.lock that is not up to date.
cargo fetch --locked --quiet
cargo deny --frozen check licenses
# One version of each hashing crate in every function zip: the bans are checked on the graph of
# the functions and their crates. The developer tools (gatewayctl, the tests, the bench) are in
# no zip, and gatewayctl's SSO support (aws-config `sso`) links an older sha1 of the SDK's own.
cargo deny --frozen --exclude gatewayctl --exclude gateway-tests --exclude gateway-bench check bans
