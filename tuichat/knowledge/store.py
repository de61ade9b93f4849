"""On-disk layout of one knowledge index, with crash-safe publishing.

    <index_dir>/CURRENT             name of the live generation (replaced atomically)
    <index_dir>/gen-<n>/            a complete index: LlamaIndex storage, vectors, passages, manifest.json
    <index_dir>/embeddings.sqlite3  embedding cache shared by all generations
    <index_dir>/sync.lock           held while a process syncs

A sync writes a whole new generation into `gen-<n>.tmp`, fsyncs it, renames it into place and only
then points CURRENT at it. A process killed at any moment leaves CURRENT naming the previous,
complete generation; leftovers are removed by the next sync.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

from tuichat import paths
from tuichat.errors import KnowledgeError

MANIFEST = "manifest.json"
MANIFEST_VERSION = 3  # 3: passages.json + keyword index instead of BM25 (older indexes rebuild once)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Store:
    def __init__(self, index_dir: Path):
        self.dir = index_dir
        if index_dir.is_dir():
            paths.make_private_tree(index_dir)  # an index made before tuichat kept it private

    def current(self) -> Path | None:
        try:
            name = (self.dir / "CURRENT").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        gen = self.dir / name
        return gen if name and (gen / MANIFEST).is_file() else None

    def read_manifest(self) -> dict | None:
        gen = self.current()
        if gen is None:
            return None
        try:
            manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return manifest if manifest.get("version") == MANIFEST_VERSION else None

    def new_generation(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
        tmp = self.dir / f"gen-{time.time_ns()}.tmp"
        tmp.mkdir()
        return tmp

    def publish(self, tmp: Path, manifest: dict) -> Path:
        """Make `tmp` (which holds the index files) the live generation, atomically."""
        manifest = dict(manifest, version=MANIFEST_VERSION)
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        _fsync_tree(tmp)
        final = tmp.with_suffix("")
        tmp.rename(final)
        pointer = self.dir / "CURRENT.tmp"
        pointer.write_text(final.name, encoding="utf-8")
        with open(pointer, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer, self.dir / "CURRENT")
        _fsync_dir(self.dir)
        self.cleanup()
        paths.make_private_tree(self.dir)  # index files 0600, folders 0700, whatever the umask
        return final

    def cleanup(self) -> None:
        """Remove unfinished and superseded generations (only call while holding the sync lock)."""
        live = self.current()
        for path in self.dir.glob("gen-*"):
            if path != live and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def sync_lock(self):
        """One syncing process per index (the TUI and `tuichat kb sync` may race)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; concurrent syncs are the user's risk
            yield
            return
        with open(self.dir / "sync.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KnowledgeError(f"another tuichat process is indexing this folder; try again when it is done "
                                     f"(lock: {self.dir / 'sync.lock'})") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
