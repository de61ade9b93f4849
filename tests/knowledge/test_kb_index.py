"""The real index: LlamaIndex on disk, the real MiniLM embedder, keywords with jieba; sync and retrieval."""
from __future__ import annotations

import os

import pytest

from tuichat.errors import KnowledgeError
from tuichat.knowledge import KnowledgeBase

GOOD = ["bicycles.html", "garden.txt", "orbital-station.pdf", "teapots.md", "熊猫.md"]


def test_first_sync_indexes_good_files_and_skips_bad_ones_with_reasons(synced_kb):
    kb, report = synced_kb
    assert sorted(report.added) == GOOD
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["image.png"] == "binary file (not text)"
    assert reasons["empty.txt"] == reasons["blank.md"] == "empty file"
    assert reasons["huge.log"].startswith("too large")
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "no text layer" in reasons["scan.pdf"]
    assert "outside the knowledge folder" in reasons["link-out.txt"]
    assert report.chunks_embedded == sum(d.chunks for d in kb.status().documents) > 0
    assert not kb.needs_sync()  # skipped files are remembered too, so they do not trigger endless syncs
    status = kb.status()
    assert [d.path for d in status.documents] == GOOD and status.synced_at is not None
    assert {s.path for s in status.skipped} == set(reasons)


def test_relevant_question_passes_the_gate_with_its_source(synced_kb):
    kb, _ = synced_kb
    retrieval = kb.retrieve("How often should I lubricate my bicycle chain?")
    assert retrieval.passed_gate
    assert retrieval.hits[0].source == "bicycles.html"
    assert retrieval.references and all(h.score >= kb.gate for h in retrieval.references)
    assert [h.score for h in retrieval.hits] == sorted((h.score for h in retrieval.hits), reverse=True)


def test_unrelated_question_fails_the_gate(synced_kb):
    kb, _ = synced_kb
    retrieval = kb.retrieve("Who won the football world cup in 1998?")
    assert retrieval.hits and not retrieval.passed_gate and retrieval.references == []


def test_gate_is_configurable(synced_kb):
    kb, _ = synced_kb
    strict = KnowledgeBase(kb.folder, index_dir=kb.index_dir, gate=0.99)
    assert not strict.retrieve("How often should I lubricate my bicycle chain?").passed_gate


def test_exact_code_is_found_by_keywords(synced_kb):
    kb, _ = synced_kb
    hybrid = kb.retrieve("What is the code for the allotment gate?")
    assert hybrid.hits[0].source == "garden.txt" and hybrid.hits[0].keyword_score > 0.5
    q77 = kb.retrieve("Q-77")
    assert q77.hits[0].source == "orbital-station.pdf" and q77.passed_gate


def test_chinese_question_is_answered_by_the_keyword_side(synced_kb):
    kb, _ = synced_kb
    retrieval = kb.retrieve("大熊猫每天吃多少竹子？")
    assert retrieval.passed_gate and retrieval.hits[0].source == "熊猫.md"
    # Unrelated Chinese must not pass on the English embedder's meaningless similarity.
    assert not kb.retrieve("明天股票市场会上涨吗？").passed_gate


def test_untrusted_script_text_never_reaches_the_index(synced_kb):
    kb, _ = synced_kb
    assert all("do not index this script" not in h.text for h in kb.retrieve("secret script variable").hits)
    assert all("hunter2" not in h.text for h in kb.retrieve("vault password").hits)


def test_incremental_sync_re_embeds_only_what_changed(docs_dir, tmp_path):
    kb = KnowledgeBase(docs_dir, index_dir=tmp_path / "index")
    first = kb.sync()
    assert len(first.added) == len(GOOD)

    (docs_dir / "teapots.md").write_text("# Teapots\n\nA glass teapot survives 120 degrees of thermal shock.\n",
                                         encoding="utf-8")
    (docs_dir / "garden.txt").unlink()
    (docs_dir / "owls.md").write_text("Barn owls swallow voles whole and cough up pellets.\n", encoding="utf-8")
    st = (docs_dir / "bicycles.html").stat()
    os.utime(docs_dir / "bicycles.html", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, not edited
    assert kb.needs_sync()
    stages = []
    report = kb.sync(lambda stage, done, total: stages.append(stage))
    assert report.changed == ["teapots.md"] and report.added == ["owls.md"] and report.removed == ["garden.txt"]
    assert sorted(report.unchanged) == ["bicycles.html", "orbital-station.pdf", "熊猫.md"]
    assert report.chunks_embedded == 2  # one passage each for the edited and the new file
    assert {"reading", "embedding", "saving"} <= set(stages)
    assert not kb.needs_sync()
    assert kb.retrieve("thermal shock of a glass teapot").hits[0].source == "teapots.md"
    assert all(h.source != "garden.txt" for h in kb.retrieve("allotment gate code").hits)

    again = KnowledgeBase(docs_dir, index_dir=tmp_path / "index")  # a new process: loads from disk
    assert not again.needs_sync()
    assert again.retrieve("barn owl pellets").hits[0].source == "owls.md"
    assert again.sync().chunks_embedded == 0


def test_file_deleted_mid_sync_is_skipped_and_the_rest_indexes(docs_dir, tmp_path):
    kb = KnowledgeBase(docs_dir, index_dir=tmp_path / "index")

    def delete_garden(stage, done, total):
        if stage == "reading" and done == 1 and (docs_dir / "garden.txt").exists():
            (docs_dir / "garden.txt").unlink()

    report = kb.sync(delete_garden)
    assert {s.path: s.reason for s in report.skipped} == {"garden.txt": "deleted while syncing"}
    assert sorted(report.added) == [g for g in GOOD if g != "garden.txt"]
    assert kb.needs_sync()  # the next sync forgets the vanished file
    assert kb.sync().skipped == []


def test_missing_folder_is_a_clear_error(tmp_path):
    kb = KnowledgeBase(tmp_path / "nope", index_dir=tmp_path / "index")
    assert not kb.needs_sync()
    with pytest.raises(KnowledgeError, match="knowledge folder not found"):
        kb.sync()
    assert kb.retrieve("anything").hits == []


def test_second_syncing_process_is_refused_while_one_runs(docs_dir, tmp_path):
    kb = KnowledgeBase(docs_dir, index_dir=tmp_path / "index")
    with kb._store.sync_lock():
        with pytest.raises(KnowledgeError, match="another tuichat process is indexing"):
            KnowledgeBase(docs_dir, index_dir=tmp_path / "index").sync()
