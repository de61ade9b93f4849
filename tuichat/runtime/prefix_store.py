"""Warmed prompt prefixes of llama.cpp models, kept on disk so that a new process starts warm.

A chat opens by prefilling its persona and greeting (PrefixWarming). llama.cpp prefills the
embedded Q4_1 model at only ~230 tokens/s on a 2-core CPU, so a 150-token persona takes ~0.65 s:
longer than the whole cold start, and paid again by every `tuichat ask` and every new process.
The keys and values of a prefix are the same whenever the same weights read the same tokens, so
after a warm that started from nothing they are written here (llama.cpp's own sequence-state
bytes), and a later process reads them back in milliseconds instead of prefilling.

One file per prefix: an 8-byte header length, a JSON header (the token ids) and the state bytes.
The folder is per model identity (the GGUF's path, size and mtime; the active adapter's converted
file; llama.cpp's version; the device), so a changed file or another build never reads old
states. Files are written atomically; one that cannot be read is deleted and the prompt is
prefilled as if it were not there. At most MAX_BYTES in all: the least recently used go first.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp

from tuichat import paths

MAX_BYTES = 512 * 2**20
MIN_TOKENS = 16  # shorter prefixes prefill in a few tens of milliseconds: not worth a file


@dataclass(frozen=True)
class StoredPrefix:
    path: Path
    ids: tuple[int, ...]

    def read_state(self) -> bytes:
        with self.path.open("rb") as file:
            (header,) = struct.unpack("<Q", file.read(8))
            file.seek(8 + header)
            state = file.read()
        os.utime(self.path)  # recently used: evicted last
        return state


class PrefixStore:
    """The stored prefixes of one model identity (see the module's docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index: dict[Path, tuple[int, ...]] | None = None  # read once, kept in step with saves

    @classmethod
    def for_model(cls, model_file: Path, *parts: str, root: Path | None = None) -> PrefixStore:
        stat = model_file.stat()
        identity = "|".join([str(model_file.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *parts])
        return cls((root or paths.cache_dir() / "prefix-kv") / hashlib.sha256(identity.encode()).hexdigest()[:24])

    def _entries(self) -> dict[Path, tuple[int, ...]]:
        if self._index is None:
            self._index = {}
            for path in self.folder.glob("*.kv") if self.folder.is_dir() else ():
                try:
                    with path.open("rb") as file:
                        (header,) = struct.unpack("<Q", file.read(8))
                        self._index[path] = tuple(json.loads(file.read(header))["ids"])
                except (OSError, ValueError, KeyError, struct.error):
                    self.discard(path)
        return self._index

    def longest(self, ids: list[int], shorter_than: int | None = None) -> StoredPrefix | None:
        """The longest stored prefix of `ids` (at most `shorter_than` tokens), or None."""
        limit = len(ids) if shorter_than is None else min(len(ids), shorter_than)
        best: StoredPrefix | None = None
        for path, stored in self._entries().items():
            if len(stored) <= limit and (best is None or len(stored) > len(best.ids)) and list(stored) == ids[:len(stored)]:
                best = StoredPrefix(path, stored)
        return best

    def save(self, ids: list[int], state: bytes) -> None:
        """Keep `state` (the keys/values of exactly `ids`); a failure to write only loses the speed-up."""
        if len(ids) < MIN_TOKENS or len(state) > MAX_BYTES // 2:
            return
        header = json.dumps({"ids": ids}).encode()
        target = self.folder / f"{hashlib.sha256(header).hexdigest()[:24]}.kv"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.part")  # two processes never share one
            with partial.open("wb") as file:
                file.write(struct.pack("<Q", len(header)) + header)
                file.write(state)
            os.replace(partial, target)  # atomic: a half-written state is never read
        except OSError:
            return
        self._entries()[target] = tuple(ids)
        self._evict()

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        if self._index is not None:
            self._index.pop(path, None)

    def _evict(self) -> None:
        """Delete the least recently used files of the whole store (every model) beyond MAX_BYTES."""
        files = []
        for path in self.folder.parent.glob("*/*.kv"):
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= MAX_BYTES:
                break
            self.discard(path)
            total -= size


def restore(llm: Any, store: PrefixStore, ids: list[int], keep: int, limit: int) -> int:
    """Read into `llm`'s cache the longest stored prefix of ids[:limit], if it is longer than the
    `keep` tokens the cache holds of `ids` now; returns how many tokens of `ids` the cache holds."""
    found = store.longest(ids, limit)
    if found is None or len(found.ids) <= keep:
        return keep
    try:
        state = found.read_state()
    except OSError:
        store.discard(found.path)
        return keep
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    llm.n_tokens = 0
    buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buffer, len(state), 0) != len(state):
        store.discard(found.path)  # damaged, or not this context's layout: prefill instead
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        return 0
    llm.input_ids[: len(found.ids)] = found.ids
    llm.n_tokens = len(found.ids)
    return len(found.ids)


def remember(llm: Any, store: PrefixStore, ids: list[int]) -> None:
    """Store the keys/values `llm`'s cache holds, which must be those of exactly `ids`."""
    if len(ids) < MIN_TOKENS:
        return
    ctx = llm._ctx.ctx
    size = llama_cpp.llama_state_seq_get_size(ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
    store.save(ids, bytes(memoryview(buffer)[:written]))
