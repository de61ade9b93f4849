"""Results cached per (model weights, adapter, task, settings, data), so a before/after run
re-scores only what changed: the base evaluation is reused while the base and the data stay the same.

The key hashes the base fingerprint (tuichat.runtime.adapter_files.base_fingerprint) together with the model
folder's weight files (the fingerprint alone reads the embeddings, which a full fine-tune may leave
almost unchanged), the adapter's files, the task files' bytes and the settings that change numbers
(shots, limit, dtype, scoring version). Batch size is left out on purpose: it does not change the
scores. Hashing big weight files is remembered per (path, size, mtime), so it is paid once.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tuichat import paths

SCORING_VERSION = 1  # bump when prompts or scoring change, so old entries stop matching


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remembered_digest(path: Path) -> str:
    """sha256 of a (possibly multi-GB) file, remembered by path, size and mtime."""
    st = path.stat()
    memo_file = cache_root() / "file-digests.json"
    try:
        memo = json.loads(memo_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    stamp = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if stamp not in memo:
        memo[stamp] = file_digest(path)
        _write_json(memo_file, memo)
    return memo[stamp]


def weights_digest(folder: Path) -> str:
    """Hash of a model folder's weight files and config (not its tokenizer or README)."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and (path.suffix in (".safetensors", ".bin", ".pt") or path.name == "config.json"):
            h.update(path.name.encode() + b"\0" + _remembered_digest(path).encode())
    return h.hexdigest()


def model_identity(loaded: Any) -> str:
    """Cache identity of a tuichat.runtime.models.LoadedModel's base: fingerprint + weight files."""
    from tuichat.runtime.adapter_files import base_fingerprint

    return f"{base_fingerprint(loaded.model)}-{weights_digest(loaded.folder)[:16]}"


def folder_digest(folder: Path | None) -> str:
    """Hash of an adapter folder's adapter files (config, weights, tuichat metadata) — not of a
    checkpoint's optimizer state or README, which do not change the model. "" when no adapter."""
    if folder is None:
        return ""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.startswith(("adapter_", "tuichat_"))):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + file_digest(path).encode())
    return h.hexdigest()


def key(identity: str, adapter_digest: str, task: str, settings: dict[str, Any], data_files: list[Path]) -> str:
    blob = json.dumps({
        "base": identity, "adapter": adapter_digest, "task": task, "settings": settings,
        "data": [file_digest(p) for p in data_files], "version": SCORING_VERSION,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_root() -> Path:
    root = paths.cache_dir() / "eval"
    root.mkdir(parents=True, exist_ok=True)
    return root


def load(cache_key: str) -> dict[str, Any] | None:
    path = cache_root() / f"{cache_key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a missing or damaged entry is just a miss


def _write_json(path: Path, payload: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)  # atomic: readers never see half a file


def store(cache_key: str, result: dict[str, Any]) -> None:
    _write_json(cache_root() / f"{cache_key}.json", result)
