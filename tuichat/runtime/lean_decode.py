"""One decoded token through a Llama-family model in fewer operations than transformers' forward.

Decoding a small model on the CPU is bound less by arithmetic than by the number of operations per
token: each costs microseconds of dispatch, and each one that runs on several threads wakes them
(tuichat's OpenMP threads wait passively, see tuichat/__init__.py). transformers' general forward
builds masks, position ids and output objects per step; here a step is the same arithmetic in a
straight line, reading the model's own modules, so adapters (PEFT wraps those modules), norms and
rotary embeddings are exactly the model's. Where a layer's projections are all packed 4-bit
(packed_weights.py), q/k/v and gate/up each run as one fused product: 3 kernel calls a layer
instead of 5, and fewer bf16 casts. The logits are bit-identical to the model's own forward
(tests/runtime/test_lean_decode.py); the speed is in README, "transformers on the CPU".

Only architectures whose decoder layer is Llama's (llama, qwen2 without a sliding window) with
SDPA attention and a cache that grows by concatenation (DynamicCache): `LeanDecoder.build` returns
None for anything else, and the engine calls the model's own forward.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tuichat.runtime.packed_weights import FusedInt4

SUPPORTED = ("llama", "qwen2")
_LAYER_PARTS = ("input_layernorm", "post_attention_layernorm", "self_attn", "mlp")
_ATTENTION_PARTS = ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim", "scaling")
_MLP_PARTS = ("gate_proj", "up_proj", "down_proj", "act_fn")


class LeanDecoder:
    """Call with a [1, 1] token tensor and the DynamicCache of everything before it: returns the
    logits [1, 1, vocab] and appends the token's keys and values to the cache."""

    def __init__(self, causal_lm: nn.Module, rope: Callable) -> None:
        self.causal_lm = causal_lm
        self.inner = causal_lm.model
        self.rope = rope
        # Fused products, per layer; each remembers its modules, and runs only while the layer
        # still holds them (an adapter loaded later wraps them, and then they are called one by one).
        self.fused_qkv: list[FusedInt4 | None] = []
        self.fused_gate_up: list[FusedInt4 | None] = []
        for layer in self.inner.layers:
            att, mlp = layer.self_attn, layer.mlp
            self.fused_qkv.append(FusedInt4.of([att.q_proj, att.k_proj, att.v_proj]))
            self.fused_gate_up.append(FusedInt4.of([mlp.gate_proj, mlp.up_proj]))

    @classmethod
    def build(cls, model: nn.Module) -> LeanDecoder | None:
        """A LeanDecoder for `model` (a causal LM, or a PEFT model around one), or None when its
        architecture or attention is not the one this step reproduces."""
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        config = base.config
        if config.model_type not in SUPPORTED or getattr(config, "use_sliding_window", False):
            return None
        if getattr(config, "_attn_implementation", None) != "sdpa" or getattr(config, "pretraining_tp", 1) != 1:
            return None
        inner = getattr(base, "model", None)
        layers = getattr(inner, "layers", None)
        if not layers or not all(hasattr(inner, part) for part in ("embed_tokens", "rotary_emb", "norm")):
            return None
        for layer in layers:
            if not (all(hasattr(layer, part) for part in _LAYER_PARTS)
                    and all(hasattr(layer.self_attn, part) for part in _ATTENTION_PARTS)
                    and all(hasattr(layer.mlp, part) for part in _MLP_PARTS)):
                return None
        rope = getattr(sys.modules[type(layers[0].self_attn).__module__], "apply_rotary_pos_emb", None)
        return cls(base, rope) if rope is not None else None

    def __call__(self, token: torch.Tensor, cache: Any) -> torch.Tensor:
        inner = self.inner
        hidden = inner.embed_tokens(token)  # [1, 1, hidden]
        position = torch.tensor([[cache.get_seq_length()]], device=token.device)
        cos, sin = inner.rotary_emb(hidden, position)
        for index, layer in enumerate(inner.layers):
            hidden = hidden + self._attention(index, layer, layer.input_layernorm(hidden), cos, sin, cache)
            hidden = hidden + self._mlp(index, layer.mlp, layer.post_attention_layernorm(hidden))
        return self.causal_lm.lm_head(inner.norm(hidden))

    def _attention(self, index: int, layer: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   cache: Any) -> torch.Tensor:
        att = layer.self_attn
        fused = self.fused_qkv[index]
        if fused is not None and fused.holds([att.q_proj, att.k_proj, att.v_proj]):
            q, k, v = fused(x)
        else:
            q, k, v = att.q_proj(x), att.k_proj(x), att.v_proj(x)
        heads = (1, 1, -1, att.head_dim)
        q, k = self.rope(q.view(heads).transpose(1, 2), k.view(heads).transpose(1, 2), cos, sin)
        k, v = cache.update(k, v.view(heads).transpose(1, 2), index)
        # One query attends to every cached position: no mask. Grouped kv heads are shared as
        # transformers' SDPA path shares them.
        out = nn.functional.scaled_dot_product_attention(q, k, v, scale=att.scaling,
                                                         enable_gqa=q.shape[1] != k.shape[1])
        return att.o_proj(out.transpose(1, 2).reshape(1, 1, -1))

    def _mlp(self, index: int, mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
        fused = self.fused_gate_up[index]
        if fused is not None and fused.holds([mlp.gate_proj, mlp.up_proj]):
            gate, up = fused(x)
        else:
            gate, up = mlp.gate_proj(x), mlp.up_proj(x)
        return mlp.down_proj(mlp.act_fn(gate) * up)

