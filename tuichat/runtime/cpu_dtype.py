"""bf16 or fp32 on this CPU, and do packed 4-bit weights pay? Measured, not guessed from flags:
decoding reads every weight once per token, so bf16's half-size weights can win even where bf16
arithmetic is emulated (1.6x on an AVX2-only EPYC, where a flag rule chose fp32), and torch's int4
kernel (packed_weights.py) reads an eighth of fp32's bytes but unpacks them on the way. Measured once
per CPU and torch version, cached.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from tuichat import paths

# Decode-shaped work: one token's activations through a weight matrix far larger than the caches.
_ROWS, _COLS, _REPEATS = 2048, 4096, 12


def _cache_file() -> Path:
    import torch

    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        info = ""
    lines = [line for line in info.splitlines() if line.startswith(("model name", "flags"))][:2]
    key = hashlib.sha256(f"{lines}|{torch.__version__}|{torch.get_num_threads()}".encode()).hexdigest()[:16]
    return paths.models_cache() / f"cpu-dtype-{key}.json"


def measure() -> dict[str, float]:
    """Seconds per decode-shaped matrix-vector product, fp32 and bf16 (interleaved, median), and,
    where torch has the int4 kernel, how many times faster packed 4-bit weights run (`int4_speedup`)."""
    import torch

    from tuichat.runtime import packed_weights

    timings: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    weights = {name: torch.randn(_COLS, _ROWS).to(getattr(torch, name)) for name in timings}
    with torch.inference_mode():
        for _ in range(_REPEATS):
            for name, w in weights.items():
                x = torch.randn(1, _ROWS, dtype=w.dtype)
                start = time.perf_counter()
                torch.nn.functional.linear(x, w)
                timings[name].append(time.perf_counter() - start)
    result = {name: sorted(times)[len(times) // 2] for name, times in timings.items()}
    if packed_weights.kernel_available():
        result["int4_speedup"] = _int4_speedup()
    return result


def _int4_speedup() -> float:
    """fp32 time / packed int4 time for a pass over 8 decode-shaped products (64 MB of fp32 weights,
    more than the caches hold), fastest of 7, on one thread: with two, on this shared 2-core VM, a
    product often took one whole 8 ms scheduler slice whatever its size, which measured nothing."""
    import torch

    from tuichat.runtime.packed_weights import GROUP

    rows, cols, count = 1024, 2048, 8
    dense = [torch.randn(rows, cols) for _ in range(count)]
    packed = [torch.ops.aten._convert_weight_to_int4pack_for_cpu(torch.randint(0, 16, (rows, cols), dtype=torch.int32), 1)
              for _ in range(count)]
    scales_and_zeros = torch.rand(cols // GROUP, rows, 2).to(torch.bfloat16)
    x = torch.randn(1, cols)
    passes = {"float32": lambda: [torch.nn.functional.linear(x, w) for w in dense],
              "int4": lambda: [torch.ops.aten._weight_int4pack_mm_for_cpu(x.bfloat16(), p, GROUP, scales_and_zeros)
                               for p in packed]}
    best = {name: float("inf") for name in passes}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for _ in range(7):
                for name, run in passes.items():
                    start = time.perf_counter()
                    run()
                    best[name] = min(best[name], time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return best["float32"] / best["int4"]


def _timings() -> dict[str, float]:
    """The cached measurement, or a fresh one (also when the cache predates the int4 measurement)."""
    from tuichat.runtime import packed_weights

    cache = _cache_file()
    if cache.is_file():
        timings = json.loads(cache.read_text())
        if "int4_speedup" in timings or not packed_weights.kernel_available():
            return timings
    timings = measure()
    tmp = cache.with_suffix(".part")
    tmp.write_text(json.dumps(timings))
    tmp.replace(cache)
    return timings


def fastest() -> Any:
    """torch.bfloat16 or torch.float32, whichever decodes faster here (measured once, then cached)."""
    import torch

    timings = _timings()
    # bf16 must win clearly: on a tie fp32 keeps the more exact arithmetic.
    return torch.bfloat16 if timings["bfloat16"] * 1.1 < timings["float32"] else torch.float32


def int4_pays() -> bool:
    """Whether packed 4-bit weights decode clearly faster than fp32 here (measured once, then cached).
    Matrix products are about two thirds of a decode step (the embedded model, fp32), so products
    must run 1.5x faster for the whole step to gain clearly; measured here: 2.9-3.5x products, ~1.6x decode."""
    return _timings().get("int4_speedup", 0.0) >= 1.5
