"""bf16 or fp32 on this CPU? Measured, not guessed from flags: decoding reads every weight once per
token, so bf16's half-size weights can win even where bf16 arithmetic is emulated (1.6x on an
AVX2-only EPYC, where a flag rule chose fp32). Measured once per CPU and torch version, cached.
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
    """Seconds per decode-shaped matrix-vector product, fp32 and bf16 (interleaved, median)."""
    import torch

    timings: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    weights = {name: torch.randn(_COLS, _ROWS).to(getattr(torch, name)) for name in timings}
    with torch.inference_mode():
        for _ in range(_REPEATS):
            for name, w in weights.items():
                x = torch.randn(1, _ROWS, dtype=w.dtype)
                start = time.perf_counter()
                torch.nn.functional.linear(x, w)
                timings[name].append(time.perf_counter() - start)
    return {name: sorted(times)[len(times) // 2] for name, times in timings.items()}


def fastest() -> Any:
    """torch.bfloat16 or torch.float32, whichever decodes faster here (measured once, then cached)."""
    import torch

    cache = _cache_file()
    if cache.is_file():
        timings = json.loads(cache.read_text())
    else:
        timings = measure()
        tmp = cache.with_suffix(".part")
        tmp.write_text(json.dumps(timings))
        tmp.replace(cache)
    # bf16 must win clearly: on a tie fp32 keeps the more exact arithmetic.
    return torch.bfloat16 if timings["bfloat16"] * 1.1 < timings["float32"] else torch.float32
