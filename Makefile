# The two commands the README starts with, plus the checks CI runs.
.PHONY: demo test lint infra-check bench

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

## Offline template checks only (cfn-lint, cdk synth, invariants).
infra-check:
	bash infra/check.sh
