"""Pick and load the runtime for a model: llama.cpp for GGUF files (the embedded model included) when
it is installed and runs here, transformers otherwise or when asked (`--backend`). Heavy imports
happen only for the backend chosen."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from tuichat.errors import ModelLoadError
from tuichat.runtime.base import ModelRuntime

BACKENDS = ("transformers", "llamacpp")
Say = Callable[[str], None]


def gguf_file(spec: str | os.PathLike | None) -> Path | None:
    """The GGUF file behind a model argument (None = the embedded model), or None for a folder."""
    from tuichat.runtime.models import embedded_gguf

    if spec is None or str(spec) == "":
        return embedded_gguf()
    path = Path(spec).expanduser()
    return path if path.suffix.lower() == ".gguf" and path.is_file() else None


def _why_not_llamacpp(dtype: str | None, load_in_4bit: bool, device: str | None) -> str | None:
    """Why the llama.cpp backend cannot take this model here (None: it can)."""
    if dtype or load_in_4bit:
        return "--dtype and --load-in-4bit are transformers options"
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (scripts/setup.sh builds it)"
    from tuichat.runtime.llamacpp_backend import llama_cpp  # through our module: its log goes to a list, not the screen

    wants_gpu = device.startswith("cuda") if device else bool(shutil.which("nvidia-smi"))
    if wants_gpu and not llama_cpp.llama_supports_gpu_offload():
        return "this llama.cpp build cannot use the GPU (scripts/setup.sh builds it with CUDA where nvcc exists)"
    return None


def load_runtime(
    model: str | os.PathLike | None = None,
    adapter: str | os.PathLike | None = None,
    *,
    backend: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    load_in_4bit: bool = False,
    force_adapter: bool = False,
    n_ctx: int | None = None,
    progress: Say | None = None,
) -> ModelRuntime:
    say = progress or (lambda text: print(text, file=sys.stderr))
    if backend is not None and backend not in BACKENDS:
        raise ModelLoadError(f"unknown backend {backend!r}: use {' or '.join(BACKENDS)}")
    gguf = gguf_file(model)
    if backend == "llamacpp" or (backend is None and gguf is not None):
        if gguf is None:
            raise ModelLoadError(f"--backend llamacpp needs a .gguf model file; {model} is not one")
        reason = _why_not_llamacpp(dtype, load_in_4bit, device)
        if reason and backend == "llamacpp":
            raise ModelLoadError(f"cannot use the llama.cpp backend: {reason}")
        if reason is None:
            try:
                return _llamacpp(gguf, adapter, force_adapter, n_ctx, gpu=device is None or device.startswith("cuda"))
            except ModelLoadError as exc:
                if backend == "llamacpp" or not _transformers_can_retry(exc):
                    raise
                reason = str(exc)
        say(f"note: using the transformers backend: {reason}")
    from tuichat.runtime.transformers_backend import Engine

    return Engine.load(model, adapter, device=device, dtype=dtype, load_in_4bit=load_in_4bit,
                       force_adapter=force_adapter, progress=say)


def _transformers_can_retry(exc: ModelLoadError) -> bool:
    """An architecture llama.cpp lacks, or a build that crashes on this CPU: transformers may still run it."""
    from tuichat.runtime.llamacpp_loading import UnknownArchitectureError

    return isinstance(exc, UnknownArchitectureError) or "crashes on this CPU" in str(exc)


def _llamacpp(gguf: Path, adapter: Any, force_adapter: bool, n_ctx: int | None, gpu: bool) -> ModelRuntime:
    from tuichat.runtime.llamacpp_backend import DEFAULT_CONTEXT, LlamaCppRuntime

    if n_ctx and n_ctx > DEFAULT_CONTEXT:  # never ask for more than the model's window (KV memory)
        from tuichat.runtime.gguf_files import read_header

        n_ctx = min(n_ctx, int(read_header(gguf).arch_field("context_length", n_ctx)))
    runtime = LlamaCppRuntime.load(gguf, n_ctx=n_ctx, gpu=gpu)
    if adapter:
        runtime.load_adapter(str(adapter), force=force_adapter)
    return runtime


def context_window(runtime: Any) -> int | None:
    """The model's context window in tokens, when the runtime knows it."""
    return getattr(runtime, "context_window", None)
