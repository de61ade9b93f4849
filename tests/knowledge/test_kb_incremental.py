"""The incremental index: a sync changes only what changed in the folder, the searchable side and the
LlamaIndex index on disk stay in step, a reopened index answers the same, and a process never builds
on an index another process (or another embedder) replaced. Real MiniLM / e5, real LlamaIndex files."""
from __future__ import annotations

import numpy as np

from tuichat.knowledge import KnowledgeBase
from tuichat.knowledge.embedder import load_embedder
from tuichat.knowledge.vector_index import load_index

NOTES = {
    "owls.md": "# Owls\n\nBarn owls cough up pellets of vole bones after every night hunt.\n",
    "kiln.md": "# Kiln\n\nThe pottery kiln is fired to 1240 degrees for stoneware glazes.\n",
    "bees.md": "# Bees\n\nHoneybees dance in a figure eight to point the hive towards nectar.\n",
}


def _folder(tmp_path):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _top(kb: KnowledgeBase, query: str) -> tuple[str, str]:
    hit = kb.retrieve(query).hits[0]
    return hit.source, hit.text


def _on_disk(kb: KnowledgeBase) -> dict[str, str]:
    """node id → text of the LlamaIndex index in the live generation, read with LlamaIndex alone."""
    index = load_index(kb._store.current(), load_embedder(kb.embedder_in_use()))
    return {nid: node.get_content() for nid, node in index.docstore.docs.items()}


def _assert_in_step(kb: KnowledgeBase) -> None:
    state = kb._live_state()
    disk = _on_disk(kb)
    assert sorted(state.ids) == sorted(disk) and len(state.ids) == len(set(state.ids))
    assert [p.text for p in state.passages] == [disk[nid] for nid in state.ids]
    assert state.matrix.shape == (len(state.ids), state.embedder.dim)


def test_add_change_and_delete_a_file_change_the_results(tmp_path):
    folder = _folder(tmp_path)
    kb = KnowledgeBase(folder, index_dir=tmp_path / "index", embedder="minilm")
    kb.sync()
    assert _top(kb, "Why do bees dance?")[0] == "bees.md"

    (folder / "ferry.md").write_text("# Ferry\n\nThe island ferry leaves the harbour at 07:15 on weekdays.\n")
    report = kb.sync()
    assert report.added == ["ferry.md"] and report.chunks_embedded == 1
    assert _top(kb, "When does the ferry leave the harbour?")[0] == "ferry.md"

    (folder / "kiln.md").write_text("# Kiln\n\nThe raku kiln is opened while red hot and the pots go into sawdust.\n")
    report = kb.sync()
    assert report.changed == ["kiln.md"] and report.chunks_embedded == 1
    source, text = _top(kb, "What happens to raku pots after the kiln?")
    assert source == "kiln.md" and "sawdust" in text
    assert all("1240" not in h.text for h in kb.retrieve("kiln 1240 degrees stoneware", top_k=10).hits)

    (folder / "owls.md").unlink()
    report = kb.sync()
    assert report.removed == ["owls.md"] and report.chunks_embedded == 0
    assert all(h.source != "owls.md" for h in kb.retrieve("barn owl pellets vole bones", top_k=10).hits)
    assert {d.path for d in kb.status().documents} == {"bees.md", "ferry.md", "kiln.md"}
    _assert_in_step(kb)


def test_a_reopened_index_answers_the_same_without_a_sync(tmp_path):
    folder = _folder(tmp_path)
    kb = KnowledgeBase(folder, index_dir=tmp_path / "index", embedder="minilm")
    kb.sync()
    (folder / "bees.md").write_text("# Bees\n\nDrones do not sting; only worker bees carry a stinger.\n")
    kb.sync()
    questions = ["Which bees can sting?", "How hot is the kiln?", "owl pellets", "蜜蜂"]
    before = [kb.retrieve(q).hits for q in questions]
    reopened = KnowledgeBase(folder, index_dir=tmp_path / "index", embedder="minilm")
    assert not reopened.needs_sync()
    assert [reopened.retrieve(q).hits for q in questions] == before
    _assert_in_step(reopened)


def test_a_sync_builds_on_what_another_process_published_not_on_its_own_memory(tmp_path):
    folder = _folder(tmp_path)
    first = KnowledgeBase(folder, index_dir=tmp_path / "index", embedder="minilm")
    first.sync()
    other = KnowledgeBase(folder, index_dir=tmp_path / "index", embedder="minilm")  # e.g. `tuichat kb sync`
    (folder / "ferry.md").write_text("# Ferry\n\nThe island ferry leaves the harbour at 07:15 on weekdays.\n")
    other.sync()
    (folder / "owls.md").unlink()
    report = first.sync()
    assert report.removed == ["owls.md"] and not report.added  # the ferry came from the other process
    assert _top(first, "When does the ferry leave?")[0] == "ferry.md"
    assert all(h.source != "owls.md" for h in first.retrieve("owl pellets", top_k=10).hits)
    _assert_in_step(first)


def test_switching_embedders_back_and_forth_never_mixes_vectors(tmp_path):
    folder = _folder(tmp_path)
    minilm = KnowledgeBase(folder, index_dir=tmp_path / "index", embedder="minilm")
    minilm.sync()
    e5 = KnowledgeBase(folder, index_dir=tmp_path / "index", embedder="e5")
    e5.sync()
    (folder / "kiln.md").write_text("# Kiln\n\nThe raku kiln is opened while red hot and the pots go into sawdust.\n")
    minilm.sync()  # its in-memory index is two generations old and of another embedder: rebuilt
    state = minilm._live_state()
    assert minilm.embedder_in_use() == "minilm" and state.embedder.name == "minilm"
    own = load_embedder("minilm").passages([f"source: {p.source}\n\n{p.text}" for p in state.passages])
    assert np.sum(own * state.matrix, axis=1).min() > 0.999  # every row is MiniLM's vector of that passage
    _assert_in_step(minilm)
