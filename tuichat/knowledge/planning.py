"""What a sync has to do: compare the folder with the last manifest (stat first, read and chunk only
new or edited files), then turn the new chunks into embedded LlamaIndex nodes and searchable passages.
"""
from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tuichat.knowledge import documents, keywords
from tuichat.knowledge.documents import FileEntry, SkipFile
from tuichat.knowledge.results import Skipped, SyncReport

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Plan:
    report: SyncReport
    files: dict  # rel → manifest entry (size, mtime_ns, sha256, node_ids, letters, cjk)
    skipped: dict  # rel → {size, mtime_ns, reason}
    remove: list[str] = field(default_factory=list)  # files whose old passages go
    new_docs: list[tuple[str, list[str]]] = field(default_factory=list)  # (rel, chunks) to embed


def plan(folder: Path, old_files: dict, progress: Progress) -> Plan:
    entries, refused = documents.scan(folder)
    skipped = {rel: {"size": None, "mtime_ns": None, "reason": why} for rel, why in refused.items()}
    out = Plan(SyncReport(), {}, skipped)
    report = out.report
    shown = 0.0
    for i, entry in enumerate(entries, 1):
        if i in (1, len(entries)) or time.monotonic() - shown > 0.1:  # a UI must not drown in updates
            progress("reading", i, len(entries))
            shown = time.monotonic()
        old = old_files.get(entry.rel)
        if old and (old["size"], old["mtime_ns"]) == entry.stamp:
            out.files[entry.rel] = old
            report.unchanged.append(entry.rel)
            continue
        try:
            data = documents.read_bytes(entry)
            digest = hashlib.sha256(data).hexdigest()
            if old and old["sha256"] == digest:  # touched, not edited
                out.files[entry.rel] = dict(old, size=entry.size, mtime_ns=entry.mtime_ns)
                report.unchanged.append(entry.rel)
                continue
            chunks = _chunks(entry, data)
        except SkipFile as why:
            skipped[entry.rel] = {"size": entry.size, "mtime_ns": entry.mtime_ns, "reason": str(why)}
            if old:
                out.remove.append(entry.rel)
                report.removed.append(entry.rel)
            continue
        (report.changed if old else report.added).append(entry.rel)
        if old:
            out.remove.append(entry.rel)
        joined = "".join(chunks)
        out.files[entry.rel] = {"size": entry.size, "mtime_ns": entry.mtime_ns, "sha256": digest, "node_ids": [],
                                "letters": sum(map(str.isalnum, joined)), "cjk": keywords.cjk_count(joined)}
        out.new_docs.append((entry.rel, chunks))
    for rel in old_files:
        if rel not in out.files and rel not in skipped:
            out.remove.append(rel)
            report.removed.append(rel)
    report.skipped = [Skipped(rel, s["reason"]) for rel, s in sorted(skipped.items())]
    if not out.files:
        report.notices.append(_nothing_to_index(folder, len(entries) + len(refused), len(skipped)))
    return out


def _nothing_to_index(folder: Path, seen: int, skipped: int) -> str:
    why = ("it is empty" if not seen else
           f"all {skipped} file{'s' if skipped != 1 else ''} were skipped (see `tuichat kb status`)")
    return f"nothing to index in {folder}: {why}; answers will not use documents"


def _chunks(entry: FileEntry, data: bytes) -> list[str]:
    from tuichat.knowledge.chunking import chunk_text

    chunks = chunk_text(documents.read_text(entry, data))
    if not chunks:
        raise SkipFile("no text in the file")
    return chunks


def embedded(todo: Plan, cache_path: Path, embedder, progress: Progress):
    """LlamaIndex nodes (with embeddings), searchable passages and their vectors for the plan's new
    chunks; records the node ids in the plan's manifest entries and the work done in its report."""
    import numpy as np
    from llama_index.core.schema import MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode

    from tuichat.knowledge.embedder import EmbeddingCache, embed_texts, text_key
    from tuichat.knowledge.index import Passage

    nodes = []
    for rel, chunks in todo.new_docs:
        prefix = hashlib.sha256(rel.encode("utf-8")).hexdigest()[:12]
        for i, chunk in enumerate(chunks):
            nodes.append(TextNode(
                id_=f"{prefix}-{i}", text=chunk, metadata={"source": rel},
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=rel)}))
        todo.files[rel]["node_ids"] = [f"{prefix}-{i}" for i in range(len(chunks))]
    if not nodes:
        return [], [], np.zeros((0, embedder.dim), dtype=np.float32)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    rows = [(n.node_id, n.metadata["source"], n.get_content(), text_key(t)) for n, t in zip(nodes, texts)]
    cache = EmbeddingCache(cache_path, embedder.model_id)
    # The passages' keyword terms (pure Python, jieba's dictionary load included) are worked out on a
    # second thread while the embedder runs: torch releases the GIL inside every op.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-passages") as pool:
        passages_job = pool.submit(lambda: [Passage.of(*row) for row in rows])
        try:
            vectors, computed = embed_texts(texts, cache, embedder, progress)
        finally:
            cache.close()
        passages = passages_job.result()
    for node, vec in zip(nodes, vectors):
        node.embedding = vec.tolist()
    todo.report.chunks_embedded += computed
    return nodes, passages, np.asarray(vectors, dtype=np.float32).reshape(len(nodes), embedder.dim)
