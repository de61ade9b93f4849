"""The searchable index: a LlamaIndex VectorStoreIndex (vectors of the folder's embedder) plus BM25 over
jieba-segmented text, fused into one score per passage. Imported only when something is indexed or
retrieved. Vector search is one numpy matrix product over the stored vectors (SimpleVectorStore's
own loop took most of a query at 1,000 documents); each passage's keyword terms are computed once,
when it is added, and kept with the index.

Fusion: candidates are the union of the vector and BM25 top lists; each gets its cosine similarity
mapped through the index's calibration (vector_score, see calibration.py), its IDF-weighted query coverage (keyword_score) and the same coverage over its title
words (title_score, see keywords.py). Keyword evidence only ever adds to the semantic score:
    s = v + w * keyword * (1 - v),   v = vector_score * (1 - CJK share),  w = 0.4 + 0.6 * CJK share
    score = s + TITLE_WEIGHT * title * (1 - s)
Each step moves the score part of the way from where it is towards 1, so it stays in [0, 1], a good
semantic match is never pulled down by a question with few exact terms (the old weighted average
(1 - w) * v + w * keyword was), and a rare exact term still lifts a passage the embedder misses.
With the English-only MiniLM a Chinese query leans on keywords alone (its similarities there are
noise); a multilingual embedder is trusted in every language.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from tuichat.knowledge import keywords
from tuichat.knowledge.calibration import IDENTITY, calibrated
from tuichat.knowledge.embedder import Embedder
from tuichat.knowledge.results import Hit

KEYWORD_WEIGHT = 0.4  # tuned on knowledge/sample_questions.jsonl (see README); 0 = vector only
TITLE_WEIGHT = 0.5  # 0.3 ranks "Lists" first for "What is a Python list?" by 0.003; 0.5 by a clear 0.05
_DOCSTORE = "docstore.json"
_INDEX_STORE = "index_store.json"
_VECTORS = "vectors.npy"
_VECTOR_META = "vectors.json"
_BM25_DIR = "bm25"
_KEYWORDS_FILE = "keywords.json"

logging.getLogger("llama_index.retrievers.bm25").setLevel(logging.ERROR)  # "top_k > corpus size" chatter
logging.getLogger("bm25s").setLevel(logging.ERROR)


def fused_score(vector: float, keyword: float, title: float, cjk: float, multilingual: bool = False) -> float:
    """The score the gate compares, in [0, 1]; never below the trusted part of the vector score."""
    v = max(vector, 0.0) * (1.0 if multilingual else 1.0 - cjk)
    w = KEYWORD_WEIGHT + (1.0 - KEYWORD_WEIGHT) * cjk
    s = v + w * keyword * (1.0 - v)
    return s + TITLE_WEIGHT * title * (1.0 - s)


def _keyword_text(node) -> str:
    return f"{node.metadata.get('source', '')}\n{node.get_content()}"


class IndexState:
    """One loaded generation. Never mutated after it is handed to readers (a sync builds a new one)."""

    def __init__(self, index, embedder: Embedder, calibration: dict | None = None):
        self.index = index
        self.embedder = embedder
        self.calibration = dict(calibration or IDENTITY)
        self.bm25 = None
        self.terms: dict[str, tuple[frozenset, frozenset]] = {}  # node id → (passage terms, title terms)
        self.df: dict[str, int] = {}
        self.n_chunks = 0
        self._vectors_from_store()

    @staticmethod
    def _embed_model(embedder: Embedder):
        from tuichat.knowledge.llama_embedding import TuichatEmbedding

        return TuichatEmbedding(embedder)

    @classmethod
    def empty(cls, embedder: Embedder) -> "IndexState":
        from llama_index.core import StorageContext, VectorStoreIndex

        index = VectorStoreIndex(nodes=[], storage_context=StorageContext.from_defaults(),
                                 embed_model=cls._embed_model(embedder))
        return cls(index, embedder)

    @classmethod
    def load(cls, gen: Path, embedder: Embedder) -> "IndexState":
        import numpy as np
        from llama_index.core import StorageContext, load_index_from_storage
        from llama_index.core.storage.docstore import SimpleDocumentStore
        from llama_index.core.storage.index_store import SimpleIndexStore
        from llama_index.core.vector_stores import SimpleVectorStore
        from llama_index.core.vector_stores.simple import SimpleVectorStoreData

        meta = json.loads((gen / _VECTOR_META).read_text(encoding="utf-8"))
        matrix = np.load(gen / _VECTORS)
        data = SimpleVectorStoreData(
            embedding_dict={nid: row.tolist() for nid, row in zip(meta["ids"], matrix)},
            text_id_to_ref_doc_id=meta["ref"], metadata_dict=meta["metadata"])
        storage = StorageContext.from_defaults(
            docstore=SimpleDocumentStore.from_persist_path(str(gen / _DOCSTORE)),
            index_store=SimpleIndexStore.from_persist_path(str(gen / _INDEX_STORE)),
            vector_store=SimpleVectorStore(data=data))
        index = load_index_from_storage(storage, embed_model=cls._embed_model(embedder))
        data = json.loads((gen / _KEYWORDS_FILE).read_text(encoding="utf-8"))
        state = cls(index, embedder, data.get("calibration"))
        state.terms = {nid: (frozenset(t), frozenset(title)) for nid, (t, title) in data["terms"].items()}
        state.df, state.n_chunks = data["df"], data["n"]
        if state.n_chunks:
            from llama_index.retrievers.bm25 import BM25Retriever

            state.bm25 = BM25Retriever.from_persist_dir(str(gen / _BM25_DIR), show_progress=False)
        return state

    def _vectors_from_store(self) -> None:
        """The stored vectors as one normalised matrix (row i = self.ids[i]) for numpy search."""
        import numpy as np

        data = self.index.vector_store.data.embedding_dict
        self.ids = list(data)
        self.row = {nid: i for i, nid in enumerate(self.ids)}
        width = self.embedder.dim
        self.matrix = (np.asarray([data[i] for i in self.ids], dtype=np.float32).reshape(len(self.ids), width)
                       if self.ids and width else np.zeros((len(self.ids), 0), dtype=np.float32))

    # --- building (sync only) ---------------------------------------------------------------
    def apply(self, remove_docs: list[str], nodes: list) -> None:
        """Drop every passage of `remove_docs`, add `nodes` (already embedded), rebuild keywords."""
        for ref in remove_docs:
            self.index.delete_ref_doc(ref, delete_from_docstore=True)
        if nodes:
            self.index.insert_nodes(nodes)
        live = set(self.index.docstore.docs)
        self.terms = {nid: t for nid, t in self.terms.items() if nid in live}
        for node in nodes:
            title = keywords.title_terms(node.metadata.get("source", ""), node.get_content())
            self.terms[node.node_id] = (frozenset(keywords.tokens(_keyword_text(node))), frozenset(title))
        self._vectors_from_store()
        self._rebuild_keywords()

    def set_calibration(self, calibration: dict) -> None:
        self.calibration = dict(calibration)

    def _rebuild_keywords(self) -> None:
        """BM25 and document frequencies over all passages; no embedding, so cheap to redo."""
        from llama_index.core.schema import TextNode
        from llama_index.retrievers.bm25 import BM25Retriever

        nodes = list(self.index.docstore.docs.values())
        self.n_chunks = len(nodes)
        self.df = dict(Counter(t for terms, _title in self.terms.values() for t in terms))
        if not nodes:
            self.bm25 = None
            return
        shadows = [TextNode(id_=n.node_id, text=keywords.segment(_keyword_text(n))) for n in nodes]
        # Our own stop words and stemming live in keywords.tokens; BM25 keeps its English defaults.
        self.bm25 = BM25Retriever.from_defaults(nodes=shadows, similarity_top_k=20, token_pattern=r"(?u)\b\w+\b")

    def persist(self, gen: Path) -> None:
        """LlamaIndex's docstore and index store as usual; the vectors as one float32 .npy, because
        SimpleVectorStore's own JSON of floats took ~80 % of a one-file re-sync on 1,000 documents."""
        import numpy as np

        storage = self.index.storage_context
        storage.docstore.persist(str(gen / _DOCSTORE))
        storage.index_store.persist(str(gen / _INDEX_STORE))
        data = self.index.vector_store.data
        np.save(gen / _VECTORS, self.matrix)
        (gen / _VECTOR_META).write_text(json.dumps(
            {"ids": self.ids, "ref": data.text_id_to_ref_doc_id, "metadata": data.metadata_dict}, ensure_ascii=False),
            encoding="utf-8")
        if self.bm25 is not None:
            self.bm25.persist(str(gen / _BM25_DIR), show_progress=False)
        terms = {nid: [sorted(t), sorted(title)] for nid, (t, title) in self.terms.items()}
        (gen / _KEYWORDS_FILE).write_text(json.dumps(
            {"n": self.n_chunks, "df": self.df, "terms": terms, "calibration": self.calibration},
            ensure_ascii=False), encoding="utf-8")

    # --- searching --------------------------------------------------------------------------
    def search(self, query: str, top_k: int, mode: str = "hybrid") -> list[Hit]:
        """The best `top_k` passages for `query`; mode "vector" ranks by calibrated similarity alone."""
        import numpy as np

        if not self.n_chunks or not query.strip():
            return []
        pool = max(4 * top_k, 20)
        sims = np.zeros(len(self.ids), dtype=np.float32)
        vector: dict[str, float] = {}
        if self.matrix.shape[1]:
            sims = calibrated(self.matrix @ self.embedder.query(query), self.calibration)
            top = np.argpartition(-sims, min(pool, len(sims)) - 1)[:pool]
            vector = {self.ids[i]: float(sims[i]) for i in top}
        if mode == "vector":
            ranked = sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
            return [self._hit(nid, v, v, 0.0) for nid, v in ranked]

        candidates = set(vector)
        if self.bm25 is not None:
            self.bm25.similarity_top_k = min(pool, self.n_chunks)
            candidates |= {nws.node.node_id for nws in self.bm25.retrieve(keywords.segment(query))}
        q_terms = set(keywords.tokens(query))
        cjk = keywords.cjk_share(query)
        multilingual = self.embedder.multilingual
        scored = []
        for nid in candidates:
            v = float(sims[self.row[nid]]) if nid in self.row else 0.0
            terms, title = self.terms[nid]
            k = keywords.coverage(q_terms, terms, self.df, self.n_chunks)
            t = keywords.coverage(q_terms, title, self.df, self.n_chunks)
            scored.append((fused_score(v, k, t, cjk, multilingual), v, k, t, nid))
        scored.sort(key=lambda s: (-s[0], s[4]))
        return [self._hit(nid, s, v, k, t) for s, v, k, t, nid in scored[:top_k]]

    def _hit(self, node_id: str, score: float, vector_score: float, keyword_score: float,
             title_score: float = 0.0) -> Hit:
        node = self.index.docstore.get_node(node_id)
        return Hit(source=node.metadata.get("source", "?"), text=node.get_content(), score=round(score, 4),
                   vector_score=round(vector_score, 4), keyword_score=round(keyword_score, 4),
                   title_score=round(title_score, 4))
