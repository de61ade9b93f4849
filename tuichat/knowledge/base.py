"""KnowledgeBase: keep an index in sync with a folder of documents and retrieve from it.

Light to import (stdlib only at the top): LlamaIndex, torch and the embedder load on first sync or
retrieval. Safe to share between threads: a sync builds a new index generation on the side and
swaps it in under a lock, so retrievals running meanwhile see the old one.
"""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Callable

from tuichat import paths
from tuichat.errors import KnowledgeError
from tuichat.knowledge import documents, keywords
from tuichat.knowledge.documents import FileEntry, SkipFile
from tuichat.knowledge.results import DocInfo, KBStatus, Retrieval, Skipped, SyncReport
from tuichat.knowledge.store import Store

Progress = Callable[[str, int, int], None]  # (stage, done, total)


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
        from tuichat.knowledge.chunking import CHUNKING_VERSION

        manifest = self._store.read_manifest() if trust_live else None
        if manifest is not None and not self._compatible(manifest):
            manifest = None  # embedder choice or chunking changed: rebuild from scratch (the cache still helps)
        old_files: dict = dict(manifest["files"]) if manifest else {}
        report, files, skipped, remove, new_docs = self._plan(old_files, progress)
        embedder = self._embedder_for(files, report)
        if manifest is not None and manifest.get("embedder") != embedder.model_id:
            # Another embedder now (auto saw the folder turn Chinese, or the old one failed to load):
            # re-embed every passage once; vectors of two embedders never share an index.
            report.notices.append(f"embedder changed from {manifest.get('embedder_name')} to {embedder.name}: "
                                  "re-embedding every passage once")
            return self._rebuild(progress, report.notices)
        if manifest is not None and not remove and not new_docs:
            if files != old_files or skipped != manifest["skipped"]:
                self._publish_manifest_only(manifest, files, skipped)
            return report
        state = None
        if manifest is not None:
            state = self._load_live()
            if state is None:  # the live index cannot be read: rebuild it (cached vectors make it quick)
                return self._rebuild(progress, report.notices)
        nodes = self._embedded_nodes(new_docs, files, report, progress, embedder)
        progress("saving", 0, 1)
        if state is None:
            from tuichat.knowledge.index import IndexState

            state = IndexState.empty(embedder)
            remove = []
        state.apply(remove, nodes)
        calibration = manifest.get("calibration") if manifest else None
        if not calibration or abs(calibration.get("passages", 0) - state.n_chunks) > 0.25 * max(state.n_chunks, 1):
            calibration = self._calibrate(state)
        state.set_calibration(calibration)
        tmp = self._store.new_generation()
        state.persist(tmp)
        gen = self._store.publish(tmp, {
            "embedder": embedder.model_id, "embedder_name": embedder.name, "embedder_choice": self.embedder_choice,
            "calibration": calibration, "chunking": CHUNKING_VERSION, "folder": str(self.folder),
            "files": files, "skipped": skipped, "synced_at": time.time()})
        with self._lock:
            self._state, self._state_gen = state, gen
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
        from llama_index.core.schema import MetadataMode

        from tuichat.knowledge.calibration import calibrate

        texts = [state.index.docstore.get_node(nid).get_content(metadata_mode=MetadataMode.EMBED) for nid in state.ids]
        return dict(calibrate(state.embedder, texts, state.matrix), passages=state.n_chunks)

    def _plan(self, old_files: dict, progress: Progress):
        """Compare the folder with the last manifest: read and chunk only new or edited files."""
        entries, refused = documents.scan(self.folder)
        report = SyncReport()
        files: dict = {}
        skipped: dict = {rel: {"size": None, "mtime_ns": None, "reason": why} for rel, why in refused.items()}
        remove: list[str] = []
        new_docs: list[tuple[str, list[str]]] = []  # (rel, chunks)

        shown = 0.0
        for i, entry in enumerate(entries, 1):
            if i in (1, len(entries)) or time.monotonic() - shown > 0.1:  # a UI must not drown in updates
                progress("reading", i, len(entries))
                shown = time.monotonic()
            old = old_files.get(entry.rel)
            if old and (old["size"], old["mtime_ns"]) == entry.stamp:
                files[entry.rel] = old
                report.unchanged.append(entry.rel)
                continue
            try:
                data = documents.read_bytes(entry)
                digest = hashlib.sha256(data).hexdigest()
                if old and old["sha256"] == digest:  # touched, not edited
                    files[entry.rel] = dict(old, size=entry.size, mtime_ns=entry.mtime_ns)
                    report.unchanged.append(entry.rel)
                    continue
                chunks = self._chunks(entry, data)
            except SkipFile as why:
                skipped[entry.rel] = {"size": entry.size, "mtime_ns": entry.mtime_ns, "reason": str(why)}
                if old:
                    remove.append(entry.rel)
                    report.removed.append(entry.rel)
                continue
            (report.changed if old else report.added).append(entry.rel)
            if old:
                remove.append(entry.rel)
            joined = "".join(chunks)
            files[entry.rel] = {"size": entry.size, "mtime_ns": entry.mtime_ns, "sha256": digest, "node_ids": [],
                                "letters": sum(c.isalnum() for c in joined), "cjk": keywords.cjk_count(joined)}
            new_docs.append((entry.rel, chunks))
        for rel in old_files:
            if rel not in files and rel not in skipped:
                remove.append(rel)
                report.removed.append(rel)
        report.skipped = [Skipped(rel, s["reason"]) for rel, s in sorted(skipped.items())]
        if not files:
            report.notices.append(self._nothing_to_index(len(entries) + len(refused), len(skipped)))

        return report, files, skipped, remove, new_docs

    def _nothing_to_index(self, seen: int, skipped: int) -> str:
        why = ("it is empty" if not seen else
               f"all {skipped} file{'s' if skipped != 1 else ''} were skipped (see `tuichat kb status`)")
        return f"nothing to index in {self.folder}: {why}; answers will not use documents"

    def _chunks(self, entry: FileEntry, data: bytes) -> list[str]:
        from tuichat.knowledge.chunking import chunk_text

        chunks = chunk_text(documents.read_text(entry, data))
        if not chunks:
            raise SkipFile("no text in the file")
        return chunks

    def _embedded_nodes(self, new_docs, files, report: SyncReport, progress: Progress, embedder) -> list:
        from llama_index.core.schema import MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode

        from tuichat.knowledge.embedder import EmbeddingCache, embed_texts

        nodes = []
        for rel, chunks in new_docs:
            prefix = hashlib.sha256(rel.encode("utf-8")).hexdigest()[:12]
            for i, chunk in enumerate(chunks):
                nodes.append(TextNode(
                    id_=f"{prefix}-{i}", text=chunk, metadata={"source": rel},
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=rel)}))
            files[rel]["node_ids"] = [f"{prefix}-{i}" for i in range(len(chunks))]
        if not nodes:
            return []
        cache = EmbeddingCache(self.index_dir / "embeddings.sqlite3", embedder.model_id)
        try:
            texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
            vectors, computed = embed_texts(texts, cache, embedder, progress)
        finally:
            cache.close()
        for node, vec in zip(nodes, vectors):
            node.embedding = vec.tolist()
        report.chunks_embedded += computed
        return nodes

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

    def _prune_cache(self, state) -> None:
        from llama_index.core.schema import MetadataMode

        from tuichat.knowledge.embedder import EmbeddingCache, text_key

        keep = {text_key(n.get_content(metadata_mode=MetadataMode.EMBED)) for n in state.index.docstore.docs.values()}
        cache = EmbeddingCache(self.index_dir / "embeddings.sqlite3", state.embedder.model_id)
        try:
            cache.keep_only(keep)
        finally:
            cache.close()

    # --- retrieval --------------------------------------------------------------------------
    def _load_live(self):
        """A fresh IndexState of the live generation (None when there is none or it is unreadable)."""
        from tuichat.knowledge.index import IndexState

        from tuichat.knowledge.embedder import load_embedder

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
