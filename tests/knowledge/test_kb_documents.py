"""Readers and skip reasons (no index, no embedder)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tuichat.knowledge import documents
from tuichat.knowledge.documents import FileEntry, SkipFile


def _text(path: Path) -> str:
    st = path.stat()
    entry = FileEntry(path.name, path, st.st_size, st.st_mtime_ns)
    return documents.read_text(entry, documents.read_bytes(entry))


def _reason(path: Path) -> str:
    with pytest.raises(SkipFile) as info:
        _text(path)
    return str(info.value)


def test_readers_extract_text_from_each_format(docs_dir):
    assert "bay Q-77" in _text(docs_dir / "orbital-station.pdf")
    html = _text(docs_dir / "bicycles.html")
    assert "80 and 100 psi" in html and "secret" not in html and "color: red" not in html
    assert "十二到三十八公斤竹子" in _text(docs_dir / "熊猫.md")


def test_docx_is_read(tmp_path):
    body = ('<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>The ferry leaves pier 12 at 07:45.</w:t></w:r></w:p></w:body></w:document>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", body)
    path = tmp_path / "ferry.docx"
    path.write_bytes(buf.getvalue())
    assert "pier 12 at 07:45" in _text(path)


def test_bad_files_are_skipped_with_reasons(tmp_path, bad_files):
    folder = tmp_path / "kb"
    folder.mkdir()
    bad_files(folder, tmp_path)
    assert _reason(folder / "image.png") == "binary file (not text)"
    assert _reason(folder / "empty.txt") == "empty file"
    assert _reason(folder / "blank.md") == "empty file"
    assert "too large (52.4 MB" in _reason(folder / "huge.log")
    assert "not UTF-8" in _reason(folder / "latin1.txt")
    assert "no text layer" in _reason(folder / "scan.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    assert "PDF" in _reason(folder / "broken.pdf")


def test_file_deleted_before_reading_is_a_skip_not_a_crash(tmp_path):
    path = tmp_path / "gone.md"
    path.write_text("x", encoding="utf-8")
    entry = FileEntry("gone.md", path, 1, 0)
    path.unlink()
    with pytest.raises(SkipFile, match="deleted while syncing"):
        documents.read_bytes(entry)


def test_scan_refuses_outside_symlinks_and_honours_ignores(tmp_path):
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("a", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("b", encoding="utf-8")
    (folder / ".hidden.md").write_text("h", encoding="utf-8")
    (folder / "questions.jsonl").write_text("{}", encoding="utf-8")
    (folder / ".kbignore").write_text("# comment\n*.jsonl\n", encoding="utf-8")
    (tmp_path / "outside.md").write_text("secret", encoding="utf-8")
    (folder / "out.md").symlink_to(tmp_path / "outside.md")
    (folder / "in.md").symlink_to(folder / "a.md")
    (folder / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    entries, refused = documents.scan(folder)
    assert [e.rel for e in entries] == ["a.md", "in.md", "sub/b.txt"]
    assert refused == {"out.md": "symlink pointing outside the knowledge folder (not followed)",
                       "elsewhere": "symlinked folder (not followed)"}
