"""Token ids to text as they stream, for the transformers backend (llama.cpp streams bytes)."""
from __future__ import annotations

from typing import Any


class Detokenizer:
    """Incremental decoding: decode only a short window of recent tokens per step (linear, not
    quadratic), and hold back bytes of a multi-byte character until it is complete."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0
        self.read = 0

    def _forward(self, tokens: torch.Tensor, cache: Any) -> torch.Tensor:
        """The logits [1, vocab] after `tokens` (fed on top of `cache`, which takes their keys/values)."""
        if tokens.shape[1] == 1 and self._lean_step is not None and not self.static_cache:
            return self._lean_step(tokens, cache)[:, -1, :].float()
        forward = self._decode_step() if tokens.shape[1] == 1 else self.model
        out = forward(input_ids=tokens, use_cache=True, logits_to_keep=1, **{self._cache_kwarg: cache})
        return out.logits[:, -1, :].float()

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        before = self._decode(self.ids[self.prefix : self.read])
        now = self._decode(self.ids[self.prefix :])
        if len(now) > len(before) and not now.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return now[len(before) :]
        return ""

    def flush(self) -> str:
        before = self._decode(self.ids[self.prefix : self.read])
        now = self._decode(self.ids[self.prefix :]).rstrip("\ufffd")  # a character cut off by the token limit
        return now[len(before) :] if len(now) > len(before) else ""
