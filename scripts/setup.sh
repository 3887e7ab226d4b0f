#!/usr/bin/env bash
# Create .venv/ in the checkout and install behemoth (editable) with its dev tools (ray included), the experiment trackers (tensorboard, wandb), and chromium for the report test.
# torch is pinned to the CPU wheel 2.13.0 through constraints.txt (pip, not uv/poetry).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,litgpt,tracking]"
# LitGPT (for convert-litgpt's tests): its own requirements cap huggingface-hub below what
# transformers needs, so it comes without them; the `litgpt` extra above holds what it imports.
# `pip check` then reports that one declared cap, nothing else.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt \
  "litgpt>=0.5.13,<0.6"
# The test that W&B logging opens no network socket traces it with strace (small; Debian's).
if ! command -v strace >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null \
    || echo "setup: could not install strace; the W&B network test will be skipped" >&2
fi
# The report's browser test needs a headless browser: Debian's chromium, only where we may
# install system packages (root with apt-get) and it is not there yet.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || echo "setup: could not install chromium; the browser test will be skipped" >&2
  fi
fi
