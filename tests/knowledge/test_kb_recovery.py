"""Killing the process during indexing leaves the previous index loadable; the next sync completes it
without re-embedding what was already embedded."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuichat.knowledge import KnowledgeBase

REPO = Path(__file__).resolve().parents[2]
N_NEW = 80  # new one-passage notes; the script below has the embedder commit them 32 at a time

SYNC_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from tuichat.knowledge import KnowledgeBase
    from tuichat.knowledge.embedder import MiniLMEmbedder
    MiniLMEmbedder.BULK_BATCH = 32  # 80 passages in 3 commits (256 would be one), so a kill lands between two
    if sys.argv[3] == "at-pointer-swap":
        # Die at the worst moment: the new generation is on disk but CURRENT not yet switched.
        real_replace = os.replace
        def replace(src, dst):
            if str(dst).endswith("CURRENT"):
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)
        os.replace = replace
    kb = KnowledgeBase(sys.argv[1], index_dir=sys.argv[2])
    kb.sync(lambda stage, done, total: print(stage, done, total, flush=True))
    print("finished", flush=True)
""")


def _add_docs(folder, n):
    for i in range(n):
        (folder / f"note-{i:03d}.md").write_text(
            f"Note {i}: warehouse shelf {i * 7 % 101} holds crate number {1000 + i} of blue widgets.\n",
            encoding="utf-8")


def _run_and_kill(folder, index_dir, when: str) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SYNC_SCRIPT, str(folder), str(index_dir), when],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=dict(os.environ))
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            stage, done = line.split()[:2] if " " in line else (line.strip(), "0")
            if when == "mid-embedding" and stage == "embedding" and int(done) >= 32:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, f"the sync was not killed: {seen[-3:]}"
    assert "finished" not in seen
    return seen


@pytest.mark.parametrize("when", ["mid-embedding", "at-pointer-swap"])
def test_killed_sync_keeps_the_old_index_and_the_next_sync_completes_it(docs_dir, tmp_path, when):
    index_dir = tmp_path / "index"
    kb = KnowledgeBase(docs_dir, index_dir=index_dir)
    before = kb.sync()
    _add_docs(docs_dir, N_NEW)

    _run_and_kill(docs_dir, index_dir, when)

    survivor = KnowledgeBase(docs_dir, index_dir=index_dir)  # as a fresh process would see it
    assert [d.path for d in survivor.status().documents] == sorted(before.added)
    assert survivor.retrieve("How often should I lubricate my bicycle chain?").hits[0].source == "bicycles.html"
    assert survivor.needs_sync()

    report = survivor.sync()
    assert len(report.added) == N_NEW and len(report.unchanged) == len(before.added)
    # Vectors computed before the kill were kept: at least the 32 seen committed are not redone.
    assert report.chunks_embedded <= N_NEW - 32
    if when == "at-pointer-swap":
        assert report.chunks_embedded == 0
    assert survivor.retrieve("crate number 1077").hits[0].source == "note-077.md"
    assert [p.name for p in index_dir.glob("gen-*")] == [survivor._store.current().name]  # leftovers cleaned


def test_a_format_2_index_rebuilds_once_from_its_cached_vectors(docs_dir, tmp_path):
    """An index written before format 3 (manifest version 2, BM25 files, no passages.json) is rebuilt
    by the first sync, every vector coming from the embedding cache; the sync after that is a no-op."""
    import json

    from tuichat.knowledge.store import MANIFEST

    kb = KnowledgeBase(docs_dir, index_dir=tmp_path / "index", embedder="minilm")
    first = kb.sync()
    assert first.chunks_embedded > 0
    gen = kb._store.current()
    manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    (gen / MANIFEST).write_text(json.dumps(dict(manifest, version=2)), encoding="utf-8")
    (gen / "passages.json").unlink()  # format 2 kept BM25 and keywords.json instead
    (gen / "bm25").mkdir()
    (gen / "keywords.json").write_text("{}", encoding="utf-8")

    reopened = KnowledgeBase(docs_dir, index_dir=tmp_path / "index", embedder="minilm")
    assert reopened.needs_sync() and reopened.status().chunk_count == 0
    report = reopened.sync()
    assert report.chunks_embedded == 0  # every passage's vector came from the cache
    assert sorted(report.added) == sorted(first.added)
    assert reopened.status().chunk_count == kb.status().chunk_count
    assert json.loads((reopened._store.current() / MANIFEST).read_text(encoding="utf-8"))["version"] == 3
    assert not reopened.needs_sync()
    again = reopened.sync()
    assert again.chunks_embedded == 0 and not again.added and not again.changed
    hit = reopened.retrieve("How often should I lubricate my bicycle chain?").hits[0]
    assert hit.source == "bicycles.html" and hit.vector_score > 0
