#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: set up (llama.cpp is built with CUDA when nvcc is present), run
# the runtime tests on CUDA, and print decode tok/s of the transformers backend eager vs compiled
# (static KV cache + CUDA graphs) on the embedded model and on a 4-bit load, plus llama.cpp on the
# GPU. Nothing here passes or fails on speed.
#
#     benchmarks/gpu_check.sh [TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
TOKENS=${1:-128}
command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi: this needs a machine with an NVIDIA GPU" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
scripts/setup.sh
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1
.venv/bin/python - <<'EOF'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device (setup keeps an existing torch: install a CUDA build)")
EOF

# The engine and runtime tests, with the transformers backend defaulting to CUDA where present.
timeout 1800 .venv/bin/python -m pytest -q tests/runtime tests/core/test_engine.py

TOKENS=$TOKENS timeout 1800 .venv/bin/python - <<'EOF'
import os, statistics, time
from tuichat.runtime.base import GenerationParams
from tuichat.runtime.models import embedded_gguf, resolve_model
from tuichat.runtime.transformers_backend import Engine

tokens = int(os.environ["TOKENS"])
prompt = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]
params = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=tokens)

def tps(runtime, runs=3):
    runtime.stream(prompt, params).wait()  # warm-up (compiles the decode step once)
    speeds = []
    for _ in range(runs):
        runtime.reset()
        speeds.append(runtime.stream(prompt, params).wait().stats.tokens_per_s)
    return statistics.median(speeds)

folder = str(resolve_model(None, progress=lambda _t: None))
for label, kwargs in (("embedded bf16", {}), ("embedded 4-bit (bitsandbytes NF4)", {"load_in_4bit": True})):
    try:
        engine = Engine.load(folder, device="cuda", progress=lambda _t: None, **kwargs)
        engine.compile_decode = False
        eager = tps(engine)
        engine.compile_decode = True
        start = time.perf_counter()
        compiled = tps(engine)
        print(f"{label}: eager {eager:.1f} tok/s, compiled {compiled:.1f} tok/s "
              f"({compiled / eager:.2f}x; warm-up + runs took {time.perf_counter() - start:.0f} s)")
        del engine
    except Exception as exc:  # report and go on: one failing configuration must not hide the others
        print(f"{label}: FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

try:
    from tuichat.runtime.llamacpp_backend import LlamaCppRuntime
except ImportError:
    print("llama.cpp: not installed")
else:
    llama = LlamaCppRuntime.load(embedded_gguf())
    print(f"llama.cpp on {llama.device}: {tps(llama):.1f} tok/s")
EOF
