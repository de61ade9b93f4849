"""Does this llama.cpp build run on this CPU, and with which settings? Found out once per machine.

Two ways a build can crash with "illegal instruction" (which kills the process; no exception):
- a wheel built with the native flags of another CPU (pip caches wheels; machines change),
- a CPU that advertises AMX while its hypervisor does not enable it: llama.cpp's extra weight
  buffers (AMX, repacking) then crash at the first token. Measured on this project's VM.
So a child process loads the embedded GGUF and decodes two tokens, first with the extra buffers and
then without; the answer is cached per CPU and llama.cpp build.

    python -m tuichat.runtime.llamacpp_probe         # prints the settings; exit 1 if none works
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tuichat import paths
from tuichat.errors import ModelLoadError


def _cpu_key() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        info = ""
    model = next((line for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    import importlib.util

    # The build itself, not just its version: a rebuilt or differently cached wheel is probed again.
    spec = importlib.util.find_spec("llama_cpp")
    libs = sorted((Path(spec.origin).parent / "lib").glob("*.so*")) if spec and spec.origin else []
    build = [(lib.name, lib.stat().st_size, lib.stat().st_mtime_ns) for lib in libs]
    return hashlib.sha256(f"{model}|{flags}|{build}".encode()).hexdigest()[:16]


def _runs(extra_buffers: bool) -> bool:
    code = f"import sys; from tuichat.runtime.llamacpp_probe import decode_two_tokens; decode_two_tokens({extra_buffers})"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def safe_settings() -> dict[str, bool]:
    """{"extra_buffers": bool} for this machine; ModelLoadError when the build cannot run here."""
    cache = paths.models_cache() / f"llamacpp-probe-{_cpu_key()}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    for extra in (True, False):
        if _runs(extra):
            settings = {"extra_buffers": extra}
            tmp = cache.with_suffix(".part")
            tmp.write_text(json.dumps(settings))
            tmp.replace(cache)
            return settings
    raise ModelLoadError("the installed llama.cpp build crashes on this CPU; rerun scripts/setup.sh to rebuild it")


def decode_two_tokens(extra_buffers: bool) -> None:
    from tuichat.runtime.llamacpp_backend import LlamaCppRuntime
    from tuichat.runtime.models import embedded_gguf
    from tuichat.runtime.base import GenerationParams

    runtime = LlamaCppRuntime.load(embedded_gguf(), n_ctx=256, extra_buffers=extra_buffers)
    runtime.generate([{"role": "user", "content": "Hi"}], GenerationParams(temperature=0, max_new_tokens=2))


if __name__ == "__main__":
    try:
        print(json.dumps(safe_settings()))
    except ModelLoadError as exc:
        print(f"tuichat: {exc}", file=sys.stderr)
        sys.exit(1)
