# The two commands the README starts with, plus the checks CI runs, and the release build.
.PHONY: demo up desk desk-test desk-screenshots test lint deny infra-check bench soak fuzz build sam-prebuilt

# Where `make build` writes the release zips, <LAMBDA_DIR>/<function>/bootstrap.zip, and where
# `make sam-prebuilt` and `cdk deploy -c prebuilt=...` take them from (docs/deploy.md).
LAMBDA_DIR ?= target/lambda-prebuilt
# The functions the templates deploy (infra/check.sh checks `make -n build` against them).
LAMBDA_FUNCTIONS := wechat-webhook weibo-webhook message-router reply-sender reply-api sla-monitor stats-aggregator desk-api media-fetcher weibo-poller webhook-sender

## Run a scripted conversation through the local stack and print what was stored.
demo:
	bash tools/demo.sh

## The local stack, running by itself until Ctrl-C: queues feed the functions as on Lambda.
up:
	bash tools/up.sh

## The web desk's files again (desk/dist, type-checked); a running `make up` serves them at once.
desk:
	@if [ ! -d desk/node_modules ] || [ desk/package-lock.json -nt desk/node_modules/.package-lock.json ]; then \
	  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix desk --no-audit --no-fund; fi
	npm --prefix desk run build

## The web desk's browser tests alone, on a fresh stack (Debian's chromium; docs/desk.md).
desk-test:
	bash tools/desk-test.sh

## The browser tests, saving the docs' screenshots into docs/desk/.
desk-screenshots:
	DESK_SCREENSHOTS_DIR=docs/desk bash tools/desk-test.sh

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

## Release arm64 zips of the nine functions, built once for any number of deploys:
## $(LAMBDA_DIR)/<function>/bootstrap.zip, checked, with $(LAMBDA_DIR)/SHA256SUMS (20+ min on 2 cores).
build:
	bash tools/venv.sh
	rm -f "$(LAMBDA_DIR)/SHA256SUMS"
	PATH="$(CURDIR)/.local/venv/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip \
	  --lambda-dir "$(abspath $(LAMBDA_DIR))" $(addprefix -p ,$(LAMBDA_FUNCTIONS))
	.local/venv/bin/python tools/lambda_zips.py "$(LAMBDA_DIR)" $(LAMBDA_FUNCTIONS)

## The SAM template deploying those zips as they are (no sam build): infra/sam/template.prebuilt.json.
sam-prebuilt:
	bash tools/venv.sh
	.local/venv/bin/python infra/sam/prebuilt_template.py "$(LAMBDA_DIR)" infra/sam/template.prebuilt.json
