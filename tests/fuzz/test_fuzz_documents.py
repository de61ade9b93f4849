"""Fuzzing the knowledge-document readers (text, Markdown, HTML, PDF, docx): whatever a file holds,
`read_text` returns text or raises SkipFile (the file is listed as skipped with its reason) — never
anything else, which would stop a sync and keep the good files out of the index."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from hypothesis import given, strategies as st

from tuichat.knowledge.documents import FileEntry, SkipFile, read_text

# A real one-page PDF with a text layer from the knowledge fixtures (648 bytes): mutations of it reach
# pypdf's parser much deeper than random bytes do.
PDF = (Path(__file__).resolve().parents[1] / "knowledge" / "data" / "docs" / "orbital-station.pdf").read_bytes()


def _docx(body: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", body)
    return out.getvalue()


@st.composite
def mutated(draw, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:at + draw(st.integers(1, 40))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
    return bytes(data)


texts = st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
documents = st.one_of(
    st.tuples(st.sampled_from([".txt", ".md", ".html", ".htm"]), st.one_of(texts, st.binary(max_size=200))),
    st.tuples(st.just(".html"), st.text(max_size=100).map(lambda t: f"<html><script>{t}</script><p>{t}<div>x".encode(
        "utf-8", "surrogatepass"))),
    st.tuples(st.just(".pdf"), st.one_of(mutated(PDF), st.binary(max_size=200))),
    st.tuples(st.just(".docx"), st.one_of(
        st.text(max_size=80).map(lambda t: _docx(f'<w:document xmlns:w="x"><w:t>{t}</w:t></w:document>')),
        mutated(_docx('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                      "<w:body><w:p><w:r><w:t>Brass teapots</w:t></w:r></w:p></w:body></w:document>")),
        st.binary(max_size=200))),
)


def test_the_seed_documents_are_readable():
    assert read_text(FileEntry("a.pdf", Path("a.pdf"), len(PDF), 0), PDF).strip()
    docx = _docx('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                 "<w:body><w:p><w:r><w:t>Brass teapots</w:t></w:r></w:p></w:body></w:document>")
    assert "Brass teapots" in read_text(FileEntry("a.docx", Path("a.docx"), len(docx), 0), docx)
    # found by the long run: a zip entry claiming a newer zip version raised NotImplementedError
    newer = docx.replace(b"PK\x01\x02\x14\x03\x14\x00", b"PK\x01\x02\x14\x03@\x00", 1)
    try:
        read_text(FileEntry("b.docx", Path("b.docx"), len(newer), 0), newer)
    except SkipFile as exc:
        assert "NotImplementedError" in str(exc)


@given(documents)
def test_knowledge_documents(item):
    suffix, data = item
    entry = FileEntry(f"doc{suffix}", Path(f"doc{suffix}"), len(data), 0)
    try:
        text = read_text(entry, data)
    except SkipFile as exc:
        assert str(exc)  # the reason shown beside the skipped file
        return
    assert isinstance(text, str)
