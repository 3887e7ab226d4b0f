#!/usr/bin/env bash
# Lint, format check, type check, tests. Run after scripts/setup.sh.
# Default (the README's test command, and CI): every test, slow ones included (kill/resume,
# every editor x scenario leak check, LitGPT, Ray, the browser, the demo, long streams).
# `bash scripts/test.sh --quick`: the tests not marked slow, for the
# development loop. Any other pytest arguments replace the selection.
set -euo pipefail
cd "$(dirname "$0")/.."
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1000000000}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-1000000000}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-100000000}
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
if [ "${1:-}" = "--quick" ]; then
  shift
  set -- -m "not slow" "$@"
fi
.venv/bin/python -m pytest -q --durations=15 "$@"
