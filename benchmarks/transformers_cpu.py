"""Decode speed of the transformers backend on this CPU under each option worth choosing between,
side by side: dtype (fp32 / bf16 / int4 = the embedded model's 4-bit layers packed, the default
where measured faster), int8 dynamic quantisation of the Linear layers and OpenMP's
wait policy (PASSIVE, a short spin, the runtime's default). Each option runs in a fresh process (the wait
policy is read once per process), rounds alternate the options so a busy machine slows all alike.
`--busy N` adds N busy-looping processes (a loaded machine).

int8 dynamic quantisation is measured for its speed only: it is not offered, because its greedy
answers part from fp32's within 0-7 tokens on 5 of 6 prompts, and torch.ao.quantization is deprecated.

    .venv/bin/python benchmarks/transformers_cpu.py --rounds 3 --tokens 48 [--only fp32 int4]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]

OPTIONS = {  # name -> (dtype, int8, threads, OpenMP environment; {} = OpenMP's own default[, lean step])
    "fp32, omp default, transformers' forward": ("float32", False, 2, {}, False),
    "fp32, passive": ("float32", False, 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "fp32, omp default": ("float32", False, 2, {}),
    "fp32, spin 10k": ("float32", False, 2, {"GOMP_SPINCOUNT": "10000"}),
    "fp32, 1 thread": ("float32", False, 1, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "bf16, omp default": ("bfloat16", False, 2, {}),
    "int4 packed, passive": ("int4", False, 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "int4 packed, omp default": ("int4", False, 2, {}),
    "int4 packed, spin 10k": ("int4", False, 2, {"GOMP_SPINCOUNT": "10000"}),
    "int4 packed, 1 thread": ("int4", False, 1, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "int4 packed, spin 50k": ("int4", False, 2, {"GOMP_SPINCOUNT": "50000"}),
    "int8-dynamic, passive": ("float32", True, 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "int8-dynamic, omp default": ("float32", True, 2, {}),
    "int8-dynamic, spin 10k": ("float32", True, 2, {"GOMP_SPINCOUNT": "10000"}),
}
# The path when the runtime issue was filed: fp32, spinning threads, every step through the model's
# own forward. Every other option decodes one-token steps with lean_decode.py, as tuichat does.
BASELINE = "fp32, omp default, transformers' forward"


def child(dtype: str, int8: bool, threads: int, tokens: int, lean: bool = True) -> None:
    import torch

    torch.set_num_threads(threads)
    from tuichat.runtime.base import GenerationParams
    from tuichat.runtime.models import resolve_model
    from tuichat.runtime.transformers_backend import Engine

    engine = Engine.load(str(resolve_model(None, progress=lambda _t: None)), device="cpu", dtype=dtype,
                         progress=lambda _t: None)
    if not lean:
        engine._lean_step = None
    if int8:
        engine.model = torch.ao.quantization.quantize_dynamic(engine.model, {torch.nn.Linear}, dtype=torch.qint8)
    params = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=tokens)
    engine.stream(PROMPT, params).wait()  # warm-up
    engine.reset()
    stats = engine.stream(PROMPT, params).wait().stats
    print(json.dumps({"tps": stats.tokens_per_s}))


def run(name: str, tokens: int) -> float:
    dtype, int8, threads, omp_env, *lean = OPTIONS[name]
    # The child imports torch before tuichat, so what is set here (or unset) is what OpenMP reads.
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(omp_env, PYTHONPATH=str(ROOT))
    code = f"import sys; sys.argv=['x']; import benchmarks.transformers_cpu as b; b.child({dtype!r}, {int8}, {threads}, {tokens}, {all(lean)})"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode:
        print(f"{name}: failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return float("nan")
    return json.loads(out.stdout.strip().splitlines()[-1])["tps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--busy", type=int, default=0, help="also run N busy-looping processes (a loaded machine)")
    parser.add_argument("--only", nargs="*", default=[], help="run only the options whose names start with these "
                        "words (fp32, bf16, int4, int8); fp32 with OpenMP's default is always run, as the baseline")
    opts = parser.parse_args()
    names = [name for name in OPTIONS if name == BASELINE or not opts.only or name.startswith(tuple(opts.only))]
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(opts.busy)]
    results: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(opts.rounds):
        for name in names:
            results[name].append(run(name, opts.tokens))
    for hog in hogs:
        hog.kill()
    flags = sorted(set(Path("/proc/cpuinfo").read_text().split()) & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni"})
    print(f"\nEmbedded SmolLM2-135M on transformers, greedy {opts.tokens} tokens, median of {opts.rounds} fresh "
          f"processes; CPU: {' '.join(flags)}; load average at the end: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print(f"{opts.busy} busy-looping processes beside it\n")
    base = statistics.median(results[BASELINE])
    for name, values in results.items():
        tps = statistics.median(values)
        print(f"| {name} | {tps:.1f} tok/s | {tps / base:.2f}x | {' '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
