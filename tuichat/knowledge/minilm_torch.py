"""all-MiniLM-L6-v2 in torch for bulk index builds: the same maths as minilm.py's numpy forward
(BERT encoder → mean pooling → L2 normalise) written with torch's functional ops, weights read with
safetensors.torch, so transformers (~4-5 s of import and model construction here) never loads.

Passages are packed, never padded: a batch is the passages' tokens laid end to end, so the linear
layers, LayerNorm and GELU run on exactly the real tokens; attention runs once per group of passages
of the same token length (the batch is sorted by length), as one unmasked scaled_dot_product_attention
call each, which lets torch use its fused CPU kernel instead of the masked fallback. Mean pooling over
a group is a plain mean. Nothing is computed for padding, and no attention mask exists to get wrong.

On a CPU with native bf16 (AVX512-BF16 / AMX) the weights and activations are bf16 (LayerNorm and
softmax accumulate in fp32 inside torch's kernels); elsewhere fp32. Vectors stay within 1e-3 cosine
of the fp32 numpy forward (tests/knowledge/test_kb_embedders.py checks it).
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_EPS = 1e-12  # BERT's LayerNorm epsilon (config.json layer_norm_eps)
TOKENS_PER_BATCH = 4096  # tokens per forward pass
ROWS_MULTIPLE = 256  # a pass's token rows are padded up to a multiple of this (see _forward)


def native_bf16() -> bool:
    """True when torch runs bf16 matmuls natively on this CPU (else bf16 is emulated and slower)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check and check())


class TorchMiniLM:
    """Packed, unpadded forward of a sentence-transformers BERT folder; `encode` takes token ids."""

    def __init__(self, folder: Path, dtype: torch.dtype | None = None):
        from safetensors.torch import load_file

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.dim = int(config["hidden_size"])
        self.dtype = dtype or (torch.bfloat16 if native_bf16() else torch.float32)
        w = {k: v.to(self.dtype) for k, v in load_file(str(folder / "model.safetensors")).items()
             if not k.startswith("pooler.")}
        for i in range(self.layers):  # Q, K and V as one linear layer
            att = f"encoder.layer.{i}.attention.self."
            for part in ("weight", "bias"):
                w[f"encoder.layer.{i}.qkv.{part}"] = torch.cat([w.pop(f"{att}{n}.{part}") for n in ("query", "key", "value")])
        self._w = w

    def encode(self, ids: list[list[int]], workers: int = 1) -> np.ndarray:
        """(len(ids), dim) float32, L2-normalised, in the order given. `workers` threads run passes
        side by side (each op then runs on its caller's thread when torch has 1 intra-op thread)."""
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        passes, start = [], 0
        while start < len(order):
            end, tokens = start, 0
            while end < len(order) and (end == start or tokens + len(ids[order[end]]) <= TOKENS_PER_BATCH):
                tokens += len(ids[order[end]])
                end += 1
            passes.append(order[start:end])
            start = end

        def run(rows: list[int]) -> None:
            with torch.inference_mode():  # thread-local: entered on the thread that computes
                out[rows] = self._forward([ids[i] for i in rows]).numpy()

        if workers > 1 and len(passes) > 1:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minilm") as pool:
                list(pool.map(run, passes))  # list(): re-raises a failed pass here
        else:
            for rows in passes:
                run(rows)
        return out

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), self._w[name + ".weight"], self._w[name + ".bias"], _EPS)

    def _forward(self, batch: list[list[int]]) -> torch.Tensor:
        """Embeddings of `batch` (sorted by length, shortest first), float32, normalised."""
        w = self._w
        lengths = [len(t) for t in batch]
        groups: list[tuple[int, int]] = []  # (passages, length), in order: runs of equal length
        for length in lengths:
            if groups and groups[-1][1] == length:
                groups[-1] = (groups[-1][0] + 1, length)
            else:
                groups.append((1, length))
        # oneDNN builds a kernel for every new matrix shape (~13 ms each here, as long as the GEMM
        # itself): rounding the rows up to a few sizes lets every pass reuse the same few kernels.
        # The pad rows belong to no passage: attention and pooling never read them.
        real = sum(lengths)
        pad = -real % ROWS_MULTIPLE
        tokens = torch.tensor([t for ids in batch for t in ids] + [0] * pad, dtype=torch.long)
        positions = torch.tensor([p for n in lengths for p in range(n)] + [0] * pad, dtype=torch.long)
        x = (w["embeddings.word_embeddings.weight"][tokens] + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        head = self.dim // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = F.linear(x, w[p + "qkv.weight"], w[p + "qkv.bias"])
            parts, offset = [], 0
            for count, length in groups:
                g = qkv[offset:offset + count * length].view(count, length, 3, self.heads, head).permute(2, 0, 3, 1, 4)
                context = F.scaled_dot_product_attention(g[0], g[1], g[2])  # count, heads, length, head
                parts.append(context.transpose(1, 2).reshape(count * length, self.dim))
                offset += count * length
            parts.append(qkv.new_zeros((pad, self.dim)))
            context = torch.cat(parts)
            attended = F.linear(context, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
            x = self._ln(attended + x, p + "attention.output.LayerNorm")
            hidden = F.gelu(F.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
            x = self._ln(F.linear(hidden, w[p + "output.dense.weight"], w[p + "output.dense.bias"]) + x,
                         p + "output.LayerNorm")
        pooled, offset = [], 0
        for count, length in groups:
            pooled.append(x[offset:offset + count * length].view(count, length, self.dim).float().mean(1))
            offset += count * length
        return F.normalize(torch.cat(pooled), dim=-1)
