"""Opening a GGUF file in llama.cpp: its log captured into a list (never printed over the running
app), its model defaults set, and why it refused a file said in one line (its own exception only
says 'failed to load')."""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import threading
from pathlib import Path
from typing import Any

import llama_cpp  # after tuichat/__init__.py set OMP_WAIT_POLICY (see there)

from tuichat.errors import ModelLoadError

_LOG: list[str] = []  # llama.cpp's warnings and errors while a model loads (they say why it failed)
_WARN, _ERROR = 3, 4  # ggml_log_level in this llama.cpp (0 none, 1 debug, 2 info, 3 warn, 4 error)
_LOAD_LOCK = threading.Lock()


@llama_cpp.llama_log_callback
def _keep_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    if level in (_WARN, _ERROR) and len(_LOG) < 200:
        _LOG.append(text.decode("utf-8", errors="replace"))


# llama.cpp logs to our list, never to the terminal. (verbose=False would instead point file
# descriptors 1 and 2 at /dev/null while loading, and so blank the running app's own screen output.)
llama_cpp.llama_log_set(_keep_log, ctypes.c_void_p(0))


@contextlib.contextmanager
def _model_defaults(extra_buffers: bool):
    """`Llama` takes no `use_extra_bufts` argument: hand it model defaults with our choice."""
    module = llama_cpp.llama.llama_cpp
    original = module.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = extra_buffers
        return params

    module.llama_model_default_params = defaults
    try:
        yield
    finally:
        module.llama_model_default_params = original


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def open_gguf(path: Path, n_ctx: int, extra_buffers: bool, on_gpu: bool) -> llama_cpp.Llama:
    """A `Llama` for the file, with every core; any failure is one ModelLoadError line."""
    threads = _threads()
    _LOG.clear()
    try:
        with _LOAD_LOCK, _model_defaults(extra_buffers), contextlib.redirect_stderr(io.StringIO()):
            llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                n_gpu_layers=-1 if on_gpu else 0,
                verbose=True,  # see _keep_log: the log goes to a list; the prints above to a buffer
            )
    except (ValueError, RuntimeError, OSError, MemoryError) as exc:
        raise load_failure(path, exc, "".join(_LOG)) from None
    llm.verbose = False
    return llm


def load_failure(path: Path, exc: BaseException, log: str = "") -> ModelLoadError:
    """Why llama.cpp refused a file, in one line (its exception only says 'failed to load')."""
    from tuichat.runtime import gguf_files

    unknown = re.search(r"unknown model architecture: '([^']*)'", log)
    if unknown:
        return UnknownArchitectureError(
            f"llama.cpp does not know the model architecture '{unknown.group(1)}' of {path.name}", unknown.group(1)
        )
    if isinstance(exc, MemoryError) or re.search(r"failed to allocate|unable to allocate|out of memory", log):
        return ModelLoadError(f"out of memory while loading {path.name}: free memory, lower context_budget or use a smaller model")
    header = gguf_files.read_header(path)  # raises its own line for a file that is not a GGUF
    gguf_files.check_complete(header)
    reason = next((line.split(": ", 1)[-1].strip() for line in log.splitlines() if "error" in line.lower()), "")
    reason = reason or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return ModelLoadError(f"llama.cpp cannot load {path}: {reason}")


class UnknownArchitectureError(ModelLoadError):
    def __init__(self, message: str, architecture: str) -> None:
        super().__init__(message)
        self.architecture = architecture
