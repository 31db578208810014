# The two commands the README starts with, plus the checks CI runs.
.PHONY: demo test lint deny infra-check bench soak fuzz

## Run a scripted conversation through the local stack and print what was stored.
demo:
	bash tools/demo.sh

## Every test: unit, integration (AWS emulator + functions under cargo lambda watch), templates.
test:
	bash tools/test.sh

## Formatting and lints, as CI runs them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p gateway-aws --all-targets --features mocked-tests -- -D warnings

## Licenses and duplicate crates (deny.toml), offline; installs the pinned cargo-deny once.
deny:
	bash tools/deny.sh

## Offline template checks only (cfn-lint, cdk synth, invariants).
infra-check:
	bash infra/check.sh

## Every performance measurement; writes docs/benchmarks.md (30-60 min on 2 cores).
bench:
	bash bench/run.sh

## Soak under injected faults, then a reconciliation; figures into docs/reliability.md.
soak:
	bash tools/soak/run.sh --write

## Each fuzz target for a bounded time (seconds per target).
fuzz:
	bash fuzz/run.sh 30
