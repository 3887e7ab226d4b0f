#!/usr/bin/env bash
# Create .venv/ in the checkout and install behemoth (editable) with its dev tools.
# torch is pinned to the CPU wheel 2.13.0 through constraints.txt (pip, not uv/poetry).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
