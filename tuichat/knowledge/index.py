"""The searchable index: a LlamaIndex VectorStoreIndex (MiniLM vectors) plus BM25 over jieba-segmented
text, fused into one score per passage. Imported only when something is indexed or retrieved.

Fusion: candidates are the union of the vector and BM25 top lists; each gets its cosine similarity
(vector_score), its IDF-weighted query coverage (keyword_score) and the same coverage over its title
words (title_score, see keywords.py). Keyword evidence only ever adds to the semantic score:
    s = v + w * keyword * (1 - v),   v = vector_score * (1 - CJK share),  w = 0.4 + 0.6 * CJK share
    score = s + TITLE_WEIGHT * title * (1 - s)
Each step moves the score part of the way from where it is towards 1, so it stays in [0, 1], a good
semantic match is never pulled down by a question with few exact terms (the old weighted average
(1 - w) * v + w * keyword was), and a rare exact term still lifts a passage the embedder misses.
A Chinese query leans on keywords alone: the English-only embedder's similarities there are noise.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from tuichat.knowledge import keywords
from tuichat.knowledge.embedder import embed_model
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


def fused_score(vector: float, keyword: float, title: float, cjk: float) -> float:
    """The score the gate compares, in [0, 1]; never below the trusted part of the vector score."""
    v = max(vector, 0.0) * (1.0 - cjk)
    w = KEYWORD_WEIGHT + (1.0 - KEYWORD_WEIGHT) * cjk
    s = v + w * keyword * (1.0 - v)
    return s + TITLE_WEIGHT * title * (1.0 - s)


def _keyword_text(node) -> str:
    return f"{node.metadata.get('source', '')}\n{node.get_content()}"


class IndexState:
    """One loaded generation. Never mutated after it is handed to readers (a sync builds a new one)."""

    def __init__(self, index, bm25=None, df: dict[str, int] | None = None, n_chunks: int = 0):
        self.index = index
        self.bm25 = bm25
        self.df = df or {}
        self.n_chunks = n_chunks

    @classmethod
    def empty(cls) -> "IndexState":
        from llama_index.core import StorageContext, VectorStoreIndex

        index = VectorStoreIndex(nodes=[], storage_context=StorageContext.from_defaults(), embed_model=embed_model())
        return cls(index)

    @classmethod
    def load(cls, gen: Path) -> "IndexState":
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
        index = load_index_from_storage(storage, embed_model=embed_model())
        data = json.loads((gen / _KEYWORDS_FILE).read_text(encoding="utf-8"))
        bm25 = None
        if data["n"]:
            from llama_index.retrievers.bm25 import BM25Retriever

            bm25 = BM25Retriever.from_persist_dir(str(gen / _BM25_DIR), show_progress=False)
        return cls(index, bm25, data["df"], data["n"])

    # --- building (sync only) ---------------------------------------------------------------
    def apply(self, remove_docs: list[str], nodes: list) -> None:
        """Drop every passage of `remove_docs`, add `nodes` (already embedded), rebuild keywords."""
        for ref in remove_docs:
            self.index.delete_ref_doc(ref, delete_from_docstore=True)
        if nodes:
            self.index.insert_nodes(nodes)
        self._rebuild_keywords()

    def _all_nodes(self) -> list:
        return list(self.index.docstore.docs.values())

    def _rebuild_keywords(self) -> None:
        """BM25 and document frequencies over all passages; no embedding, so cheap to redo."""
        from llama_index.core.schema import TextNode
        from llama_index.retrievers.bm25 import BM25Retriever

        nodes = self._all_nodes()
        self.n_chunks = len(nodes)
        self.df = dict(Counter(t for n in nodes for t in set(keywords.tokens(_keyword_text(n)))))
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
        ids = list(data.embedding_dict)
        # An index with no passages (empty folder, every file skipped or deleted) is a 0×0 matrix:
        # reshape(0, -1) cannot infer a width from nothing.
        matrix = (np.asarray([data.embedding_dict[i] for i in ids], dtype=np.float32) if ids
                  else np.zeros((0, 0), dtype=np.float32))
        np.save(gen / _VECTORS, matrix)
        (gen / _VECTOR_META).write_text(json.dumps(
            {"ids": ids, "ref": data.text_id_to_ref_doc_id, "metadata": data.metadata_dict}, ensure_ascii=False),
            encoding="utf-8")
        if self.bm25 is not None:
            self.bm25.persist(str(gen / _BM25_DIR), show_progress=False)
        (gen / _KEYWORDS_FILE).write_text(
            json.dumps({"n": self.n_chunks, "df": self.df}, ensure_ascii=False), encoding="utf-8")

    # --- searching --------------------------------------------------------------------------
    def search(self, query: str, top_k: int, mode: str = "hybrid") -> list[Hit]:
        """The best `top_k` passages for `query`; mode "vector" ranks by cosine similarity alone."""
        import numpy as np
        from llama_index.core.schema import QueryBundle

        if not self.n_chunks or not query.strip():
            return []
        pool = max(4 * top_k, 20)
        q_vec = np.asarray(embed_model().get_query_embedding(query), dtype=np.float32)
        bundle = QueryBundle(query_str=query, embedding=q_vec.tolist())
        found = self.index.as_retriever(similarity_top_k=pool).retrieve(bundle)
        vector = {nws.node.node_id: float(nws.score or 0.0) for nws in found}
        if mode == "vector":
            ranked = sorted(vector.items(), key=lambda kv: -kv[1])[:top_k]
            return [self._hit(nid, v, v, 0.0) for nid, v in ranked]

        candidates = set(vector)
        if self.bm25 is not None:
            self.bm25.similarity_top_k = min(pool, self.n_chunks)
            candidates |= {nws.node.node_id for nws in self.bm25.retrieve(keywords.segment(query))}
        q_terms = set(keywords.tokens(query))
        cjk = keywords.cjk_share(query)
        scored = []
        for nid in candidates:
            node = self.index.docstore.get_node(nid)
            v = vector.get(nid)
            if v is None:  # found by BM25 only: its cosine from the stored vector (both normalised)
                v = float(np.dot(q_vec, np.asarray(self.index.vector_store.get(nid), dtype=np.float32)))
            k = keywords.coverage(q_terms, set(keywords.tokens(_keyword_text(node))), self.df, self.n_chunks)
            title = keywords.title_terms(node.metadata.get("source", ""), node.get_content())
            t = keywords.coverage(q_terms, title, self.df, self.n_chunks)
            scored.append((fused_score(v, k, t, cjk), v, k, t, nid))
        scored.sort(key=lambda s: (-s[0], s[4]))
        return [self._hit(nid, s, v, k, t) for s, v, k, t, nid in scored[:top_k]]

    def _hit(self, node_id: str, score: float, vector_score: float, keyword_score: float,
             title_score: float = 0.0) -> Hit:
        node = self.index.docstore.get_node(node_id)
        return Hit(source=node.metadata.get("source", "?"), text=node.get_content(), score=round(score, 4),
                   vector_score=round(vector_score, 4), keyword_score=round(keyword_score, 4),
                   title_score=round(title_score, 4))
