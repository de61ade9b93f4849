"""Find the files of a knowledge folder and turn each into plain text, or a reason it was skipped.

Documents are untrusted input: anything odd (binary, empty, huge, undecodable, a PDF without a
text layer, a symlink leaving the folder, a file that vanishes mid-sync) becomes a `SkipFile` with
a one-line reason, and the rest of the folder still indexes.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024  # bigger files are almost always data dumps, not documents
IGNORE_FILE = ".kbignore"  # glob patterns (one per line, relative paths) the folder asks us to leave out
SNIFF_BYTES = 8192

CONVERTED = {".pdf", ".docx", ".html", ".htm"}


class SkipFile(Exception):
    """Raised by `read_text` with the reason shown to the user."""


@dataclass(frozen=True)
class FileEntry:
    rel: str  # POSIX-style path relative to the folder: the document's stable id and its "source"
    path: Path
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


def _ignore_patterns(folder: Path) -> list[str]:
    try:
        lines = (folder / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def scan(folder: Path) -> tuple[list[FileEntry], dict[str, str]]:
    """Files to consider (sorted) and those refused before reading (rel → reason).

    Hidden files and folders and `.kbignore` matches are left out silently: they are the user's
    own choice. Symlinks are never followed out of the folder (that would index arbitrary files)."""
    folder = folder.resolve()
    patterns = _ignore_patterns(folder)
    entries: list[FileEntry] = []
    refused: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in dirnames:
            if (base / d).is_symlink():  # os.walk does not descend into it; say so rather than stay silent
                rel = (base / d).relative_to(folder).as_posix()
                if not _ignored(rel, patterns):
                    refused[rel] = "symlinked folder (not followed)"
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if _ignored(rel, patterns):
                continue
            try:
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(folder):
                        refused[rel] = "symlink pointing outside the knowledge folder (not followed)"
                        continue
                    if not target.is_file():
                        refused[rel] = "symlink to something that is not a file"
                        continue
                st = path.stat()
            except OSError as exc:
                refused[rel] = f"cannot read: {exc.strerror or exc}"
                continue
            entries.append(FileEntry(rel, path, st.st_size, st.st_mtime_ns))
    return entries, refused


def read_bytes(entry: FileEntry) -> bytes:
    if entry.size > MAX_BYTES:
        raise SkipFile(f"too large ({entry.size / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB)")
    try:
        return entry.path.read_bytes()
    except FileNotFoundError:
        raise SkipFile("deleted while syncing") from None
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from None


def read_text(entry: FileEntry, data: bytes) -> str:
    """The document's text. Raises SkipFile with the reason when there is none to index."""
    if not data.strip():
        raise SkipFile("empty file")
    suffix = entry.path.suffix.lower()
    if suffix == ".pdf":
        text = _pdf_text(data)
    elif suffix == ".docx":
        text = _docx_text(data)
    elif suffix in (".html", ".htm"):
        text = _html_text(_decode(data))
    else:
        text = _decode(data)
    text = text.replace("\r\n", "\n").replace("\x00", "")
    if not text.strip():
        raise SkipFile("no text in the file" if suffix not in (".pdf",) else
                       "PDF has no text layer (a scan?): run OCR on it first")
    return text


def _decode(data: bytes) -> str:
    if b"\x00" in data[:SNIFF_BYTES] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SkipFile("binary file (not text)")
    for encoding in ("utf-8-sig", "utf-16") if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SkipFile("not UTF-8 text (re-save it as UTF-8)")


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise SkipFile("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except SkipFile:
        raise
    except Exception as exc:  # PdfReadError, but malformed files also reach IndexError, AttributeError,
        # RecursionError… deep in pypdf: this one file is skipped with the reason and the sync goes on.
        raise SkipFile(f"unreadable PDF ({type(exc).__name__})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise SkipFile("PDF has no text layer (a scan?): run OCR on it first")
    return text


def _docx_text(data: bytes) -> str:
    import io

    import docx2txt

    try:
        return docx2txt.process(io.BytesIO(data)) or ""
    except Exception as exc:  # zipfile, zlib and the XML parser each raise their own types on bad bytes
        # (BadZipFile, NotImplementedError for unknown zip versions, RuntimeError when encrypted, ParseError…):
        # whatever it is, this one file is skipped with the reason and the sync goes on.
        raise SkipFile(f"unreadable .docx ({type(exc).__name__})") from None


def _html_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    # Block elements end paragraphs, so the chunker still sees document structure.
    lines = [ln.strip() for ln in soup.get_text("\n").splitlines()]
    return "\n".join(ln for ln in lines if ln)
