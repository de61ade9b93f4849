"""A knowledge folder with nothing to index gives an empty index and a notice, never a crash
(it used to raise `ValueError: cannot reshape array of size 0` while persisting the vectors)."""
from __future__ import annotations

from tuichat.cli.main import main
from tuichat.knowledge import KnowledgeBase


def _check_empty(kb: KnowledgeBase, report, why: str) -> None:
    assert any(why in n for n in report.notices), report.notices
    assert kb.status().documents == [] and kb.status().synced_at is not None
    retrieval = kb.retrieve("what do pandas eat?")
    assert retrieval.hits == [] and not retrieval.passed_gate
    reopened = KnowledgeBase(kb.folder, index_dir=kb.index_dir)  # the persisted empty index loads again
    assert reopened.retrieve("熊猫吃什么？").hits == [] and not reopened.needs_sync()


def test_empty_folder(tmp_path):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    kb = KnowledgeBase(folder, index_dir=tmp_path / "index")
    _check_empty(kb, kb.sync(), "it is empty")


def test_every_file_skipped(tmp_path, bad_files):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    bad_files(folder, tmp_path)
    kb = KnowledgeBase(folder, index_dir=tmp_path / "index")
    report = kb.sync()
    assert len(report.skipped) >= 6
    _check_empty(kb, report, f"all {len(report.skipped)} files were skipped")


def test_all_files_deleted_after_a_sync(docs_dir, tmp_path):
    kb = KnowledgeBase(docs_dir, index_dir=tmp_path / "index")
    assert kb.sync().added and kb.retrieve("teapot").hits
    for path in docs_dir.iterdir():
        path.unlink()
    report = kb.sync()
    assert sorted(report.removed) == sorted(["bicycles.html", "garden.txt", "orbital-station.pdf", "teapots.md", "熊猫.md"])
    _check_empty(kb, report, "it is empty")


def test_cli_sync_of_an_empty_folder_prints_the_notice(tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    assert main(["kb", "sync", "--knowledge", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "notice: nothing to index" in err and "0 added" in out
    assert main(["kb", "query", "anything", "--knowledge", str(folder)]) == 0
    assert "no passages" in capsys.readouterr().out
