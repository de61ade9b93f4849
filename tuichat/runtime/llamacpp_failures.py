"""Why llama.cpp refused a GGUF file, in one line (its own exception only says 'failed to load')."""
from __future__ import annotations

import re
from pathlib import Path

from tuichat.errors import ModelLoadError


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
