"""Our embedders as a LlamaIndex `BaseEmbedding`, so a VectorStoreIndex (or any LlamaIndex retriever
or query engine) can use minilm, e5 or keyword-only vectors like any other embedding model."""
from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from tuichat.knowledge.embedder import Embedder, load_embedder


class TuichatEmbedding(BaseEmbedding):
    """Wraps an `Embedder` (see embedder.py); vectors come back L2-normalised."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs):
        super().__init__(model_name=embedder.model_id, embed_batch_size=32, **kwargs)
        self._embedder = embedder

    @classmethod
    def named(cls, name: str) -> "TuichatEmbedding":
        return cls(load_embedder(name))

    @classmethod
    def class_name(cls) -> str:
        return "TuichatEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.query(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.passages([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.passages(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)
