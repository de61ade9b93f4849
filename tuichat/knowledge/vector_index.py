"""The LlamaIndex side of a generation: a VectorStoreIndex (docstore, index store, vector store) kept
on disk in every generation, so any LlamaIndex retriever or query engine can load the folder's index.

Only syncs touch it. A syncing process keeps the index in memory between syncs and changes it with
LlamaIndex's own insert_nodes / delete_ref_doc, then writes it into the new generation; it is read
from disk only by a process that has not synced this index yet. Two parts of LlamaIndex's storage
were too slow for a one-file sync at 1,000 documents and are replaced through its extension points:
  - SimpleVectorStore's JSON of floats: the vectors are one float32 .npy (index.VECTORS, the same
    matrix queries use) plus vectors.json for the ids, ref docs and metadata;
  - the index store re-serialised the whole IndexDict through dataclasses_json on every insert and
    delete (~60 ms each at 1,500 passages): FastIndexStore writes the same JSON with the stdlib.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
from llama_index.core.storage.index_store import SimpleIndexStore

from tuichat.knowledge.embedder import Embedder
from tuichat.knowledge.index import VECTORS

DOCSTORE = "docstore.json"
INDEX_STORE = "index_store.json"
VECTOR_META = "vectors.json"

logging.getLogger("llama_index.core.indices.loading").setLevel(logging.WARNING)


class FastIndexStore(SimpleIndexStore):
    """SimpleIndexStore whose add_index_struct writes what LlamaIndex's own serialiser writes
    ({"__type__": ..., "__data__": the struct's JSON}), without dataclasses_json's per-field walk."""

    def add_index_struct(self, index_struct) -> None:
        data = json.dumps(dataclasses.asdict(index_struct))
        self._kvstore.put(index_struct.index_id, {"__type__": index_struct.get_type(), "__data__": data},
                          collection=self._collection)


def _embed_model(embedder: Embedder):
    from tuichat.knowledge.llama_embedding import TuichatEmbedding

    return TuichatEmbedding(embedder)


def new_index(embedder: Embedder):
    from llama_index.core import StorageContext, VectorStoreIndex

    storage = StorageContext.from_defaults(index_store=FastIndexStore())
    return VectorStoreIndex(nodes=[], storage_context=storage, embed_model=_embed_model(embedder))


def load_index(gen: Path, embedder: Embedder):
    """The VectorStoreIndex of generation `gen` (raises OSError / ValueError / KeyError when unreadable)."""
    from llama_index.core import StorageContext, load_index_from_storage
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from llama_index.core.vector_stores import SimpleVectorStore
    from llama_index.core.vector_stores.simple import SimpleVectorStoreData

    meta = json.loads((gen / VECTOR_META).read_text(encoding="utf-8"))
    matrix = np.load(gen / VECTORS)
    data = SimpleVectorStoreData(
        embedding_dict={nid: row.tolist() for nid, row in zip(meta["ids"], matrix)},
        text_id_to_ref_doc_id=meta["ref"], metadata_dict=meta["metadata"])
    storage = StorageContext.from_defaults(
        docstore=SimpleDocumentStore.from_persist_path(str(gen / DOCSTORE)),
        index_store=FastIndexStore.from_persist_path(str(gen / INDEX_STORE)),
        vector_store=SimpleVectorStore(data=data))
    return load_index_from_storage(storage, embed_model=_embed_model(embedder))


def apply(index, remove_docs: list[str], nodes: list) -> None:
    """Drop every passage of the files `remove_docs`, add `nodes` (already embedded)."""
    for ref in remove_docs:
        index.delete_ref_doc(ref, delete_from_docstore=True)
    if nodes:
        index.insert_nodes(nodes)


def persist(index, gen: Path, ids: list[str]) -> None:
    """Write the index into `gen`, beside the searchable side's index.VECTORS (row i = node `ids[i]`),
    which is also this vector store's vectors."""
    storage = index.storage_context
    storage.docstore.persist(str(gen / DOCSTORE))
    storage.index_store.persist(str(gen / INDEX_STORE))
    data = index.vector_store.data
    if set(ids) != set(data.embedding_dict):
        raise ValueError("the LlamaIndex vector store and the searchable index disagree on the passages")
    (gen / VECTOR_META).write_text(json.dumps(
        {"ids": ids, "ref": data.text_id_to_ref_doc_id, "metadata": data.metadata_dict}, ensure_ascii=False),
        encoding="utf-8")
