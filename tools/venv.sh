#!/usr/bin/env bash
# The project's pinned Python tools (tools/requirements-dev.txt: moto server, cargo-lambda,
# cfn-lint, aws-sam-translator) live in one virtual environment inside the checkout,
# .local/venv (ignored by git), never in the system Python: a Python that refuses global
# installs (PEP 668, "externally managed", as Debian's and Homebrew's do) works as well.
# Sourced by tools/stack.sh and infra/check.sh; `bash tools/venv.sh` just installs.
#
#   venv_install   creates .local/venv if it is missing or broken, installs the pins unless
#                  the venv already holds exactly this requirements file (a copy is kept in
#                  the venv, so a run with nothing to do costs no pip call), and puts the
#                  venv's bin/ first on PATH (python3, moto_server, cargo-lambda, cfn-lint).

VENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.local/venv"
VENV_REQUIREMENTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/requirements-dev.txt"

venv_install() {
  local stamp="$VENV_DIR/requirements-dev.txt" start=$SECONDS
  if ! "$VENV_DIR/bin/python" -c '' 2>/dev/null || [ ! -x "$VENV_DIR/bin/pip" ]; then
    printf '==> creating the Python virtual environment %s\n' "$VENV_DIR" >&2
    rm -rf "$VENV_DIR"
    mkdir -p "$(dirname "$VENV_DIR")"
    if ! python3 -m venv "$VENV_DIR"; then
      rm -rf "$VENV_DIR"
      printf '%s\n' "python3 -m venv failed: the venv module (with ensurepip) is needed;" \
        "on Debian and Ubuntu: apt-get install python3-venv" >&2
      return 1
    fi
  fi
  if ! cmp -s "$VENV_REQUIREMENTS" "$stamp"; then
    printf '==> installing the pinned Python tools into %s (tools/requirements-dev.txt; a minute or two the first time)\n' \
      "$VENV_DIR" >&2
    rm -f "$stamp"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$VENV_REQUIREMENTS" || return 1
    cp "$VENV_REQUIREMENTS" "$stamp"
    printf '==> Python tools installed in %s s\n' "$((SECONDS - start))" >&2
  fi
  case ":$PATH:" in
    *":$VENV_DIR/bin:"*) ;;
    *) export PATH="$VENV_DIR/bin:$PATH" ;;
  esac
  hash -r
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  venv_install
fi
