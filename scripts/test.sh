#!/usr/bin/env bash
# Lint, format check, type check, tests. Run after scripts/setup.sh.
# Default: every test not marked slow (the CI budget is ~15 minutes on 2 cores). The slow tests
# (kill/resume, every editor x scenario leak check, LitGPT, Ray, browser, demo, long streams) run
# with `bash scripts/test.sh -m slow`; any pytest arguments replace the default selection.
set -euo pipefail
cd "$(dirname "$0")/.."
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1000000000}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-1000000000}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-100000000}
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
if [ "$#" -eq 0 ]; then
  set -- -m "not slow"
fi
.venv/bin/python -m pytest -q "$@"
