"""The searchable side of one index generation: the passages' vectors as one numpy matrix, their text
and source, and a keyword index over their terms, fused into one score per passage. This is what a
query touches; the LlamaIndex VectorStoreIndex of the same generation (vector_index.py) is written
beside it by every sync but never read on the query path, and a sync derives the next IndexState
from the live one in memory (only the changed passages are new), so neither a query nor a sync
re-reads LlamaIndex's docstore.

Fusion, for every passage at once: its cosine similarity mapped through the index's calibration
(vector_score, see calibration.py), its IDF-weighted query coverage (keyword_score) and the same
coverage over its title words (title_score, see keywords.py). Keyword evidence only ever adds to the
semantic score:
    s = v + w * keyword * (1 - v),   v = vector_score * (1 - CJK share),  w = 0.4 + 0.6 * CJK share
    score = s + TITLE_WEIGHT * title * (1 - s)
Each step moves the score part of the way from where it is towards 1, so it stays in [0, 1], a good
semantic match is never pulled down by a question with few exact terms, and a rare exact term still
lifts a passage the embedder misses. With the English-only MiniLM a Chinese query leans on keywords
alone (its similarities there are noise); a multilingual embedder is trusted in every language.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuichat.knowledge import keywords
from tuichat.knowledge.calibration import IDENTITY, calibrated
from tuichat.knowledge.embedder import Embedder
from tuichat.knowledge.keyword_index import KeywordIndex
from tuichat.knowledge.results import Hit

KEYWORD_WEIGHT = 0.4  # tuned on knowledge/sample_questions.jsonl (see README); 0 = vector only
TITLE_WEIGHT = 0.5  # 0.3 ranks "Lists" first for "What is a Python list?" by 0.003; 0.5 by a clear 0.05
VECTORS = "vectors.npy"  # row i = passage i of PASSAGES (also the LlamaIndex vector store's vectors)
PASSAGES = "passages.json"


def fused_score(vector, keyword, title, cjk: float, multilingual: bool = False):
    """The score the gate compares, in [0, 1]; never below the trusted part of the vector score.
    Works on floats and on numpy arrays (one entry per passage)."""
    v = np.maximum(vector, 0.0) * (1.0 if multilingual else 1.0 - cjk)
    w = KEYWORD_WEIGHT + (1.0 - KEYWORD_WEIGHT) * cjk
    s = v + w * keyword * (1.0 - v)
    return s + TITLE_WEIGHT * title * (1.0 - s)


@dataclass(frozen=True)
class Passage:
    node_id: str
    source: str  # the file, relative to the knowledge folder
    text: str
    key: str  # sha256 of the text the embedder saw (the embedding cache key)
    terms: tuple[str, ...]  # keyword terms of the source and the text
    title: tuple[str, ...]  # keyword terms of the file name and the headings

    @classmethod
    def of(cls, node_id: str, source: str, text: str, key: str) -> "Passage":
        terms = sorted(set(keywords.tokens(f"{source}\n{text}")))
        return cls(node_id, source, text, key, tuple(terms), tuple(sorted(keywords.title_terms(source, text))))


class IndexState:
    """One generation, never mutated after it is built: a sync makes the next one with `updated`."""

    def __init__(self, embedder: Embedder, passages: list[Passage], matrix: np.ndarray,
                 calibration: dict | None = None):
        self.embedder = embedder
        self.passages = passages
        self.matrix = matrix  # (len(passages), embedder.dim) float32, L2-normalised rows
        self.calibration = dict(calibration or IDENTITY)
        self.ids = [p.node_id for p in passages]
        self.keywords = KeywordIndex([p.terms for p in passages], [p.title for p in passages])

    @property
    def n_chunks(self) -> int:
        return len(self.passages)

    @classmethod
    def empty(cls, embedder: Embedder) -> "IndexState":
        return cls(embedder, [], np.zeros((0, embedder.dim), dtype=np.float32))

    def updated(self, remove_ids: set[str], added: list[Passage], vectors: np.ndarray) -> "IndexState":
        """The next generation: without `remove_ids`, with `added` (row i has vector `vectors[i]`)."""
        keep = [i for i, nid in enumerate(self.ids) if nid not in remove_ids]
        fresh = np.asarray(vectors, dtype=np.float32).reshape(len(added), self.embedder.dim)
        return IndexState(self.embedder, [self.passages[i] for i in keep] + added,
                          np.vstack([self.matrix[keep], fresh]), self.calibration)

    # --- disk -------------------------------------------------------------------------------
    @classmethod
    def load(cls, gen: Path, embedder: Embedder) -> "IndexState":
        data = json.loads((gen / PASSAGES).read_text(encoding="utf-8"))
        passages = [Passage(nid, src, text, key, tuple(terms), tuple(title))
                    for nid, src, text, key, terms, title in data["rows"]]
        matrix = np.load(gen / VECTORS)
        if not embedder.dim:  # keyword-only, or the index's embedder failed to load here: ignore vectors
            matrix = np.zeros((len(passages), 0), dtype=np.float32)
        if matrix.shape != (len(passages), embedder.dim):
            raise ValueError(f"{gen / VECTORS}: shape {matrix.shape}, expected {(len(passages), embedder.dim)}")
        return cls(embedder, passages, matrix, data.get("calibration"))

    def persist(self, gen: Path) -> None:
        np.save(gen / VECTORS, self.matrix)
        rows = [[p.node_id, p.source, p.text, p.key, p.terms, p.title] for p in self.passages]
        (gen / PASSAGES).write_text(json.dumps({"calibration": self.calibration, "rows": rows}, ensure_ascii=False),
                                    encoding="utf-8")

    # --- searching --------------------------------------------------------------------------
    def search(self, query: str, top_k: int, mode: str = "hybrid") -> list[Hit]:
        """The best `top_k` passages for `query`; mode "vector" ranks by calibrated similarity alone."""
        if not self.n_chunks or not query.strip():
            return []
        vector = np.zeros(self.n_chunks, dtype=np.float32)
        if self.matrix.shape[1]:
            # einsum, not `@`: a BLAS matrix-vector product wakes BLAS's threads, which on a busy
            # 2-core box cost 12-25 ms per query against 0.1 ms for einsum's own loop.
            vector = calibrated(np.einsum("ij,j->i", self.matrix, self.embedder.query(query)), self.calibration)
        if mode == "vector":
            if not self.matrix.shape[1]:
                return []
            zeros = np.zeros_like(vector)
            return [self._hit(i, vector[i], vector, zeros, zeros) for i in self._best(vector, top_k)]
        keyword, title = self.keywords.coverage(set(keywords.tokens(query)))
        score = fused_score(vector, keyword, title, keywords.cjk_share(query), self.embedder.multilingual)
        return [self._hit(i, score[i], vector, keyword, title) for i in self._best(score, top_k)]

    def _best(self, score: np.ndarray, top_k: int) -> list[int]:
        """Rows of the `top_k` highest scores, ties broken by node id (stable across runs)."""
        pool = min(len(score), top_k + 8)
        rows = np.argpartition(-score, pool - 1)[:pool]
        return sorted(rows.tolist(), key=lambda i: (-float(score[i]), self.ids[i]))[:top_k]

    def _hit(self, row: int, score, vector: np.ndarray, keyword: np.ndarray, title: np.ndarray) -> Hit:
        p = self.passages[row]
        return Hit(source=p.source, text=p.text, score=round(float(score), 4), vector_score=round(float(vector[row]), 4),
                   keyword_score=round(float(keyword[row]), 4), title_score=round(float(title[row]), 4))
