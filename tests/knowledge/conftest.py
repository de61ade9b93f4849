"""Fixtures for the knowledge-base tests: a copy of the small document folder in tests/knowledge/data."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    """A fresh, writable copy of the fixture documents (tests may edit, add and delete files)."""
    folder = tmp_path / "knowledge"
    shutil.copytree(DATA / "docs", folder)
    return folder


@pytest.fixture(scope="module")
def synced_kb(tmp_path_factory):
    """One real index (real MiniLM embedder, LlamaIndex on disk) over the fixture documents plus the
    awkward files, built once per module for the read-only tests."""
    from tuichat.knowledge import KnowledgeBase

    root = tmp_path_factory.mktemp("kb")
    folder = root / "knowledge"
    shutil.copytree(DATA / "docs", folder)
    write_bad_files(folder, root)
    kb = KnowledgeBase(folder, index_dir=root / "index")
    report = kb.sync()
    return kb, report


@pytest.fixture
def bad_files():
    return write_bad_files


def write_bad_files(folder: Path, outside: Path) -> None:
    """Files the sync must skip with a reason, without stopping the rest."""
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text("   \n\n  ", encoding="utf-8")
    with open(folder / "huge.log", "wb") as fh:  # sparse: 50 MB on paper, nothing on disk
        fh.truncate(50 * 1024 * 1024)
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me br\xfbl\xe9e recipe".encode("latin-1"))
    _blank_pdf(folder / "scan.pdf")
    secret = outside / "secret.txt"
    secret.write_text("The vault password is hunter2.", encoding="utf-8")
    (folder / "link-out.txt").symlink_to(secret)


def _blank_pdf(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with open(path, "wb") as fh:
        writer.write(fh)
