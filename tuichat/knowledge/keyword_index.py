"""The keyword side of one index generation: an inverted index (term → rows holding it) over each
passage's terms and over its title terms, scored for every passage at once with numpy.

It replaces BM25 (bm25s behind LlamaIndex's BM25Retriever), which had to be rebuilt over every
passage on every sync (~3 s at 1,000 documents) and scored every passage in Python on every query.
The score we fuse and gate on was never BM25's anyway but IDF-weighted query coverage
(keywords.py); with postings it is a handful of `scores[rows] += weight` per query, and the
index is rebuilt from the per-passage term lists kept with the generation (a few ms per 1,000
passages), so a sync that changes one file costs no keyword work proportional to the corpus' text.
SQLite FTS5 was measured as the alternative on the same 1,519 passages (1,000 documents): building
took about as long (13 vs 11 ms), but our coverage needs each query term's matching rows and
document frequency, one MATCH per term: 1.4 ms per query against 0.04 ms here; its one advantage, an
update in place (0.2 ms), does not fit the copy-per-generation crash safety of store.py.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tuichat.knowledge import keywords


def _postings(rows: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
    lists: dict[str, list[int]] = {}
    for row, terms in enumerate(rows):
        for term in terms:
            lists.setdefault(term, []).append(row)
    return {term: np.asarray(found, dtype=np.int32) for term, found in lists.items()}


class KeywordIndex:
    """Immutable once built; `terms[i]` / `titles[i]` are the distinct terms of passage row i."""

    def __init__(self, terms: Sequence[Sequence[str]], titles: Sequence[Sequence[str]]):
        self.n = len(terms)
        self.postings = _postings(terms)
        self.title_postings = _postings(titles)

    def df(self, term: str) -> int:
        rows = self.postings.get(term)
        return 0 if rows is None else len(rows)

    def coverage(self, query_terms: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the IDF-weighted share of the query's terms in the passage, and in its title
        (both in [0, 1]; a term no passage holds weighs most and is found nowhere)."""
        passage = np.zeros(self.n, dtype=np.float32)
        title = np.zeros(self.n, dtype=np.float32)
        weights = {t: keywords.idf(self.df(t), self.n) for t in query_terms}
        total = sum(weights.values())
        if not total:
            return passage, title
        for term, weight in weights.items():
            if term in self.postings:
                passage[self.postings[term]] += weight / total
            if term in self.title_postings:
                title[self.title_postings[term]] += weight / total
        return passage, title
