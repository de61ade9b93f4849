"""Results cached per (base weights, adapter, task, settings, data), so a before/after run
re-scores only what changed: the base evaluation is reused while the base and the data stay the same.

The key hashes the base fingerprint (tuichat.models.base_fingerprint), the adapter's files, the
task files' bytes and the settings that change numbers (shots, limit, dtype, scoring version).
Batch size is left out on purpose: it does not change the scores.
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


def folder_digest(folder: Path | None) -> str:
    """Hash of every file (name + bytes) in an adapter folder; "" when there is no adapter."""
    if folder is None:
        return ""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + file_digest(path).encode())
    return h.hexdigest()


def key(fingerprint: str, adapter_digest: str, task: str, settings: dict[str, Any], data_files: list[Path]) -> str:
    blob = json.dumps({
        "base": fingerprint, "adapter": adapter_digest, "task": task, "settings": settings,
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


def store(cache_key: str, result: dict[str, Any]) -> None:
    root = cache_root()
    fd, tmp = tempfile.mkstemp(dir=root, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, root / f"{cache_key}.json")  # atomic: readers never see half an entry
