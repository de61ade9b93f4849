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

# Decode-shaped work: one token's activations through 8 weight matrices, 64 MB in fp32 (more than
# the caches hold), timed as whole passes, fastest of 7, on one thread. With two threads, on a shared
# 2-core VM, a product often took one whole 8 ms scheduler slice whatever its size: fp32 and bf16
# measured 7.99 and 8.03 ms, which said nothing about either.
_ROWS, _COLS, _COUNT, _PASSES = 1024, 2048, 8, 7
_METHOD = 2  # caches written by an earlier way of measuring are measured again


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
    """Seconds per pass of decode-shaped products in fp32 and bf16 and, where torch has the int4
    kernel, how many times faster packed 4-bit weights (packed_weights.py) run (`int4_speedup`)."""
    import torch

    from tuichat.runtime import packed_weights

    linear = torch.nn.functional.linear
    dense = [torch.randn(_ROWS, _COLS) for _ in range(_COUNT)]
    halves = [w.to(torch.bfloat16) for w in dense]
    x = torch.randn(1, _COLS)
    passes = {"float32": lambda: [linear(x, w) for w in dense],
              "bfloat16": lambda: [linear(x.to(torch.bfloat16), w) for w in halves]}
    if packed_weights.kernel_available():
        group = packed_weights.GROUP
        codes = [torch.randint(0, 16, (_ROWS, _COLS), dtype=torch.int32) for _ in range(_COUNT)]
        packed = [torch.ops.aten._convert_weight_to_int4pack_for_cpu(c, 1) for c in codes]
        scales_and_zeros = torch.rand(_COLS // group, _ROWS, 2).to(torch.bfloat16)
        passes["int4"] = lambda: [torch.ops.aten._weight_int4pack_mm_for_cpu(x.to(torch.bfloat16), p, group,
                                                                              scales_and_zeros) for p in packed]
    best = dict.fromkeys(passes, float("inf"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for _ in range(_PASSES):
                for name, run in passes.items():  # interleaved, so a busy moment slows each alike
                    start = time.perf_counter()
                    run()
                    best[name] = min(best[name], time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    result = {"float32": best["float32"], "bfloat16": best["bfloat16"], "method": _METHOD}
    if "int4" in best:
        result["int4_speedup"] = best["float32"] / best["int4"]
    return result


def _timings() -> dict[str, float]:
    """The cached measurement, or a fresh one (also when the cache predates this way of measuring)."""
    from tuichat.runtime import packed_weights

    cache = _cache_file()
    if cache.is_file():
        timings = json.loads(cache.read_text())
        if timings.get("method") == _METHOD and ("int4_speedup" in timings or not packed_weights.kernel_available()):
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
