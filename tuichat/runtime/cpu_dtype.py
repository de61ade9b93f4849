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
    """Seconds per decode-shaped matrix-vector product: fp32, bf16 and, where torch has the kernel,
    4-bit packed weights with bf16 activations (interleaved, median)."""
    import torch

    from tuichat.runtime import packed_weights

    products = {name: _product(getattr(torch, name)) for name in ("float32", "bfloat16")}
    if packed_weights.kernel_available():
        products["int4"] = _int4_product()
    timings: dict[str, list[float]] = {name: [] for name in products}
    with torch.inference_mode():
        for _ in range(_REPEATS):
            for name, product in products.items():
                start = time.perf_counter()
                product()
                timings[name].append(time.perf_counter() - start)
    return {name: sorted(times)[len(times) // 2] for name, times in timings.items()}


def _product(dtype: Any) -> Any:
    import torch

    w, x = torch.randn(_COLS, _ROWS).to(dtype), torch.randn(1, _ROWS, dtype=dtype)
    return lambda: torch.nn.functional.linear(x, w)


def _int4_product() -> Any:
    import torch

    from tuichat.runtime.packed_weights import GROUP

    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(torch.randint(0, 16, (_COLS, _ROWS), dtype=torch.int32), 1)
    scales_and_zeros = torch.rand(_ROWS // GROUP, _COLS, 2).to(torch.bfloat16)
    x = torch.randn(1, _ROWS, dtype=torch.bfloat16)
    return lambda: torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, GROUP, scales_and_zeros)


def _timings() -> dict[str, float]:
    """The cached measurement, or a fresh one (also when the cache predates the int4 measurement)."""
    from tuichat.runtime import packed_weights

    cache = _cache_file()
    if cache.is_file():
        timings = json.loads(cache.read_text())
        if "int4" in timings or not packed_weights.kernel_available():
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
    """Whether packed 4-bit weights decode clearly faster than fp32 here (measured once, then cached)."""
    timings = _timings()
    return "int4" in timings and timings["int4"] * 1.1 < timings["float32"]
