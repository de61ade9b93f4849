"""Batches without wasted compute.

`PaddingFreeCollator` (default) concatenates a batch into one row and restarts `position_ids` at
every example, with no attention mask: transformers then builds a block-diagonal causal mask from the
position ids (masking_utils.find_packed_sequence_indices), so no token attends across examples and
no compute goes to padding. The first label of every example is masked so the last token of one
example is never trained to predict the first token of the next.

`PaddedCollator` is the classic alternative (pad to the longest in the batch). Labels on padding are
masked by position, not by comparing ids with the pad id, so EOS stays trained whatever the pad is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .formatting import IGNORE


class EncodedDataset:
    """A map-style dataset of {input_ids, labels} lists (what Trainer's DataLoader needs)."""

    def __init__(self, encoded: list[Any]):
        self.items = [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.items[index]


@dataclass
class PaddingFreeCollator:
    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for f in features:
            n = len(f["input_ids"])
            ids += list(f["input_ids"])
            labels += [IGNORE] + list(f["labels"][1:])
            positions += range(n)
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
        }


@dataclass
class PaddedCollator:
    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids, labels, mask = [], [], []
        for f in features:
            pad = longest - len(f["input_ids"])
            ids.append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }


def real_tokens(batch: dict[str, Any]) -> int:
    """Non-padding tokens in a collated batch (for tokens/s that do not count padding)."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())
