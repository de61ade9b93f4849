"""KnowledgeBase: keep an index in sync with a folder of documents and retrieve from it.

Light to import (no LlamaIndex, torch or model at the top): they load on first sync or retrieval.
Safe to share between threads: a sync derives a new index generation from the live one in memory
(index.py, vector_index.py), writes it on the side and swaps it in under a lock, so retrievals
running meanwhile see the old one.
"""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from tuichat import paths
from tuichat.errors import KnowledgeError
from tuichat.knowledge import documents, planning
from tuichat.knowledge.planning import Progress
from tuichat.knowledge.results import DocInfo, KBStatus, Retrieval, Skipped, SyncReport
from tuichat.knowledge.store import Store


def default_index_dir(folder: Path) -> Path:
    key = hashlib.sha256(str(folder.resolve()).encode("utf-8")).hexdigest()[:16]
    return paths.knowledge_index_dir() / f"{folder.name or 'root'}-{key}"


class KnowledgeBase:
    def __init__(self, folder: Path, index_dir: Path | None = None, gate: float = 0.5, top_k: int = 4,
                 embedder: str = "auto"):
        from tuichat.knowledge.embedder import check_choice

        self.folder = Path(folder).expanduser().resolve()
        self.embedder_choice = check_choice(embedder)  # auto, minilm or e5 (see embedder.py)
        self.notices: list[str] = []  # shown by front ends: embedder fallbacks, nothing to index
        self.index_dir = Path(index_dir) if index_dir else default_index_dir(self.folder)
        self.gate = gate
        self.top_k = top_k
        self._store = Store(self.index_dir)
        self._state = None  # IndexState of the live generation, loaded on first retrieval
        self._state_gen: Path | None = None
        self._lock = threading.Lock()
        self._writer = None  # (LlamaIndex index, its generation) this process last published; syncs only

    # --- cheap checks -----------------------------------------------------------------------
    def _recorded(self, manifest: dict | None) -> dict[str, tuple | None]:
        if not manifest:
            return {}
        out: dict[str, tuple | None] = {rel: (f["size"], f["mtime_ns"]) for rel, f in manifest["files"].items()}
        for rel, s in manifest["skipped"].items():
            out[rel] = (s["size"], s["mtime_ns"]) if s.get("size") is not None else None
        return out

    def _scan_stamps(self) -> dict[str, tuple | None]:
        entries, refused = documents.scan(self.folder)
        stamps: dict[str, tuple | None] = {e.rel: e.stamp for e in entries}
        stamps.update({rel: None for rel in refused})
        return stamps

    def needs_sync(self) -> bool:
        """True when files were added, changed or removed since the last sync (stat only, no reads)."""
        if not self.folder.is_dir():
            return False
        manifest = self._store.read_manifest()
        if manifest is None or not self._compatible(manifest) or manifest.get("embedder") == "none":
            return True  # a keyword-only index (its embedder failed to load) tries the embedder again
        return self._scan_stamps() != self._recorded(manifest)

    def _compatible(self, manifest: dict) -> bool:
        from tuichat.knowledge.chunking import CHUNKING_VERSION

        return manifest.get("embedder_choice") == self.embedder_choice and manifest.get("chunking") == CHUNKING_VERSION

    def embedder_in_use(self) -> str | None:
        """The embedder name of the live index (minilm, e5, or none = keywords only); None before a sync."""
        manifest = self._store.read_manifest()
        return manifest.get("embedder_name") if manifest else None

    def status(self) -> KBStatus:
        manifest = self._store.read_manifest() or {"files": {}, "skipped": {}}
        docs = [DocInfo(rel, len(f["node_ids"])) for rel, f in sorted(manifest["files"].items())]
        skipped = [Skipped(rel, s["reason"]) for rel, s in sorted(manifest["skipped"].items())]
        notices = list(self.notices)
        if manifest.get("embedder") == "none" and not notices:
            notices.append("the embedder could not load: keyword-only retrieval")
        return KBStatus(self.folder, docs, skipped, self.index_dir, manifest.get("synced_at"), notices)

    # --- sync -------------------------------------------------------------------------------
    def sync(self, progress: Progress | None = None) -> SyncReport:
        """Bring the index up to date with the folder; only added/changed files are read and chunked,
        and only passages whose text is new go through the embedder."""
        if not self.folder.is_dir():
            raise KnowledgeError(f"knowledge folder not found: {self.folder} (create it or pass --knowledge DIR)")
        started = time.monotonic()
        with self._store.sync_lock():
            self._store.cleanup()  # leftovers of a sync that was killed
            report = self._sync_locked(progress or (lambda *_: None))
        report.seconds = time.monotonic() - started
        return report

    def _sync_locked(self, progress: Progress, trust_live: bool = True) -> SyncReport:
        from tuichat.knowledge import vector_index
        from tuichat.knowledge.calibration import VERSION as CALIBRATION_VERSION
        from tuichat.knowledge.chunking import CHUNKING_VERSION
        from tuichat.knowledge.index import IndexState

        manifest = self._store.read_manifest() if trust_live else None
        if manifest is not None and not self._compatible(manifest):
            manifest = None  # embedder choice or chunking changed: rebuild from scratch (the cache still helps)
        old_files: dict = dict(manifest["files"]) if manifest else {}
        todo = planning.plan(self.folder, old_files, progress)
        report = todo.report
        embedder = self._embedder_for(todo.files, report)
        if manifest is not None and manifest.get("embedder") != embedder.model_id:
            # Another embedder now (auto saw the folder turn Chinese, or the old one failed to load):
            # re-embed every passage once; vectors of two embedders never share an index.
            report.notices.append(f"embedder changed from {manifest.get('embedder_name')} to {embedder.name}: "
                                  "re-embedding every passage once")
            return self._rebuild(progress, report.notices)
        if manifest is not None and not todo.remove and not todo.new_docs:
            if todo.files != old_files or todo.skipped != manifest["skipped"]:
                self._publish_manifest_only(manifest, todo.files, todo.skipped)
            return report
        if manifest is None:
            state, index = IndexState.empty(embedder), vector_index.new_index(embedder)
        else:  # the live generation, from memory when this process wrote or read it last
            state, index = self._live_state(), self._writer_index(embedder)
            if state is None or index is None or state.embedder.model_id != embedder.model_id:
                # unreadable, or read with a fallback embedder when this one failed: rebuild (cached vectors make it quick)
                return self._rebuild(progress, report.notices)
        self._writer = None  # `index` changes below: it is kept only once its generation is published
        nodes, passages, vectors = planning.embedded(todo, self.index_dir / "embeddings.sqlite3", embedder, progress)
        progress("saving", 0, 1)
        vector_index.apply(index, todo.remove, nodes)
        gone = {nid for rel in todo.remove for nid in old_files[rel]["node_ids"]}
        state = state.updated(gone, passages, vectors)
        calibration = manifest.get("calibration") if manifest else None
        if (not calibration or calibration.get("version") != CALIBRATION_VERSION
                or abs(calibration.get("passages", 0) - state.n_chunks) > 0.25 * max(state.n_chunks, 1)):
            calibration = self._calibrate(state)
        state.calibration = dict(calibration)  # before any reader sees this state
        tmp = self._store.new_generation()
        state.persist(tmp)
        vector_index.persist(index, tmp, state.ids)
        gen = self._store.publish(tmp, {
            "embedder": embedder.model_id, "embedder_name": embedder.name, "embedder_choice": self.embedder_choice,
            "calibration": calibration, "chunking": CHUNKING_VERSION, "folder": str(self.folder),
            "files": todo.files, "skipped": todo.skipped, "synced_at": time.time()})
        with self._lock:
            self._state, self._state_gen = state, gen
        self._writer = (index, gen)
        self._prune_cache(state)
        progress("saving", 1, 1)
        return report

    def _rebuild(self, progress: Progress, notices: list[str]) -> SyncReport:
        report = self._sync_locked(progress, trust_live=False)
        report.notices[:0] = [n for n in notices if n not in report.notices]
        return report

    def _embedder_for(self, files: dict, report: SyncReport):
        """The embedder this folder uses: the one asked for, or for `auto` the one its text needs;
        keyword-only (with a notice) when it cannot load."""
        from tuichat.knowledge.embedder import auto_choice, load_embedder

        name = self.embedder_choice
        if name == "auto":
            name = auto_choice(sum(f.get("cjk", 0) for f in files.values()), sum(f.get("letters", 0) for f in files.values()))
        try:
            return load_embedder(name)
        except KnowledgeError as exc:
            notice = f"{exc}; using keyword-only retrieval"
            report.notices.append(notice)
            self.notices.append(notice)
            return load_embedder("none")

    def _calibrate(self, state) -> dict:
        from tuichat.knowledge.calibration import calibrate

        return dict(calibrate(state.embedder, [p.text for p in state.passages], state.matrix), passages=state.n_chunks)

    def _writer_index(self, embedder):
        """The live generation's LlamaIndex index: the one this process last published, else read
        from disk (None when unreadable)."""
        from tuichat.knowledge import vector_index

        gen = self._store.current()
        if self._writer is not None and self._writer[1] == gen:
            return self._writer[0]
        try:
            return vector_index.load_index(gen, embedder)
        except (OSError, ValueError, KeyError):
            return None

    def _publish_manifest_only(self, manifest: dict, files: dict, skipped: dict) -> None:
        """Stamps or skip reasons changed but no passage did: copy the live generation, new manifest."""
        import shutil

        live = self._store.current()
        tmp = self._store.new_generation()
        shutil.copytree(live, tmp, dirs_exist_ok=True)
        gen = self._store.publish(tmp, dict(manifest, files=files, skipped=skipped, synced_at=time.time()))
        with self._lock:
            if self._state is not None and self._state_gen == live:
                self._state_gen = gen
        if self._writer is not None and self._writer[1] == live:
            self._writer = (self._writer[0], gen)

    def _prune_cache(self, state) -> None:
        from tuichat.knowledge.embedder import EmbeddingCache

        cache = EmbeddingCache(self.index_dir / "embeddings.sqlite3", state.embedder.model_id)
        try:
            cache.keep_only({p.key for p in state.passages})
        finally:
            cache.close()

    # --- retrieval --------------------------------------------------------------------------
    def _load_live(self):
        """A fresh IndexState of the live generation (None when there is none or it is unreadable)."""
        from tuichat.knowledge.embedder import load_embedder
        from tuichat.knowledge.index import IndexState

        gen = self._store.current()
        manifest = self._store.read_manifest()
        if gen is None or manifest is None:
            return None
        name = manifest.get("embedder_name", "none")
        try:
            embedder = load_embedder(name)
        except KnowledgeError as exc:
            notice = f"{exc}; searching by keywords only"
            if notice not in self.notices:
                self.notices.append(notice)
            embedder = load_embedder("none")
        try:
            return IndexState.load(gen, embedder)
        except (OSError, ValueError, KeyError):
            return None

    def _live_state(self):
        gen = self._store.current()
        with self._lock:
            if self._state is not None and self._state_gen == gen:
                return self._state
        state = self._load_live()  # another process synced, or first use
        with self._lock:
            self._state, self._state_gen = state, gen
        return state

    def retrieve(self, query: str, mode: str = "hybrid", top_k: int | None = None) -> Retrieval:
        """Top-k passages with scores; `passed_gate` says whether the best one reaches the gate."""
        state = self._live_state()
        hits = state.search(query, top_k or self.top_k, mode) if state is not None else []
        return Retrieval(query, hits, self.gate, bool(hits) and hits[0].score >= self.gate)
