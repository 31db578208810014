#!/usr/bin/env bash
# Self-test of how tools/stack.sh starts and stops its processes, with setsid(1) and without
# it (macOS has none; PATH is then a copy without it): a process started through
# "${STACK_SETSID[@]}" leads its own process group, and stack_cleanup stops it together with a
# child it spawned. Starts nothing but `sleep`. Run by `make test`; on its own:
#   bash tools/stack_selftest.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/stack-selftest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

# A PATH without setsid: links to every other command of the current PATH (the first of each
# name, as the shell would find it), python3 linked to the real interpreter, not a shim.
mkdir "$WORK/bin"
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  for cmd in "$dir"/*; do
    name=${cmd##*/}
    if [ -x "$cmd" ] && [ "$name" != setsid ] && [ ! -e "$WORK/bin/$name" ]; then
      ln -s "$cmd" "$WORK/bin/$name"
    fi
  done
done
ln -sf "$(python3 -c 'import sys; print(sys.executable)')" "$WORK/bin/python3"

# case LABEL PATH: prints "ok ..." lines or "FAIL ..." lines.
case_run() (
  label=$1
  PATH=$2
  export STACK_RUN_DIR="$WORK/run-$label"
  mkdir -p "$STACK_RUN_DIR"
  # shellcheck source=tools/stack.sh
  . "$ROOT/tools/stack.sh"
  result() { if "$@"; then echo "ok    $label: $what"; else echo "FAIL  $label: $what"; fi; }
  pgid() { ps -o pgid= -p "$1" | tr -d ' '; }
  # Running, not a zombie (an orphan is reaped whenever its new parent gets to it).
  alive() { case "$(ps -o stat= -p "$1" 2>/dev/null)" in "" | Z*) false ;; *) true ;; esac; }
  gone() { # pid...: within 2 s
    local _
    for _ in $(seq 20); do
      alive "$1" || alive "$2" || return 0
      sleep 0.1
    done
    return 1
  }

  what="starts through: ${STACK_SETSID[*]:0:2}"
  result true
  "${STACK_SETSID[@]}" bash -c 'sleep 300 & echo $! >"$1"; wait' _ "$STACK_RUN_DIR/child" &
  leader=$!
  STACK_PIDS+=("$leader")
  for _ in $(seq 50); do
    [ -s "$STACK_RUN_DIR/child" ] && break
    sleep 0.1
  done
  child=$(cat "$STACK_RUN_DIR/child" 2>/dev/null || echo none)
  what="the started process leads its own process group"
  result [ "$(pgid "$leader")" = "$leader" ]
  what="the process it spawned is in that group"
  result [ "$(pgid "$child" 2>/dev/null)" = "$leader" ]
  stack_cleanup
  what="stack_cleanup stops both"
  result gone "$leader" "$child"
  # Never leave a sleep behind, whatever the outcome.
  kill "$child" "$leader" 2>/dev/null || true
)

out=$(
  case_run with-setsid "$PATH"
  case_run without-setsid "$WORK/bin"
)
printf '%s\n' "$out"
if command -v setsid >/dev/null 2>&1; then
  case "$out" in
    *"with-setsid: starts through: setsid"*) ;;
    *) echo "FAIL  with-setsid: setsid(1) was not used" && failed=$((failed + 1)) ;;
  esac
fi
case "$out" in
  *"without-setsid: starts through: python3 -c"*) ;;
  *) echo "FAIL  without-setsid: the python3 fallback was not used" && failed=$((failed + 1)) ;;
esac
passed=$((passed + $(grep -c '^ok ' <<<"$out")))
failed=$((failed + $(grep -c '^FAIL ' <<<"$out" || true)))
echo "stack_selftest: $passed passed, $failed failed"
((failed == 0))
