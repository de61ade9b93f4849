"""Searching all history: the user's words → a full-text query, and a one-line snippet per hit.

Words match anywhere inside a message (the index is trigram-based, so Chinese needs no spaces);
"quoted words" match as one phrase; every word or phrase must be present. Words shorter than three
characters (common in Chinese: 天气) are below what a trigram index can look up, so such a query is
answered by a plain substring scan instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from tuichat.errors import HistoryError

SNIPPET_CHARS = 70


@dataclass(frozen=True)
class SearchHit:
    message_id: int
    session_id: int
    session_title: str
    role: str
    created: float
    snippet: str


def parse_query(query: str) -> list[str]:
    """The words and "phrases" of a query; a one-line HistoryError when it cannot be searched."""
    if query.count('"') % 2:
        raise HistoryError(f'the search {query!r} has an unbalanced quote (")—close the phrase or remove the quote')
    terms = [phrase or word for phrase, word in re.findall(r'"([^"]*)"|(\S+)', query)]
    terms = [t.strip() for t in terms if t.strip()]
    if not terms:
        raise HistoryError("the search is empty: give a word or a \"phrase\" to look for")
    return terms


def fts_query(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression (each term a quoted phrase), or None when a term is too short."""
    if any(len(t) < 3 for t in terms):
        return None
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)


def like_patterns(terms: list[str]) -> list[str]:
    escaped = (t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for t in terms)
    return [f"%{t}%" for t in escaped]


def snippet(content: str, terms: list[str]) -> str:
    """About SNIPPET_CHARS characters around the first term, on one line."""
    flat = " ".join(content.split())
    lower = flat.lower()
    at = min((i for i in (lower.find(t.lower()) for t in terms) if i >= 0), default=0)
    start = max(0, at - SNIPPET_CHARS // 3)
    text = flat[start : start + SNIPPET_CHARS]
    return ("…" if start else "") + text + ("…" if start + SNIPPET_CHARS < len(flat) else "")
