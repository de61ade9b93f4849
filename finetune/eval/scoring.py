"""Log-likelihood scoring as lm-evaluation-harness defines it, with the context computed once.

lm-eval scores each choice as its own sequence `context + continuation` (split into tokens by its
`_encode_pair`: trailing context spaces move to the continuation; the whole string is encoded and
the continuation is what follows the context's tokens) and sums the continuation's token
log-probabilities. We build exactly those token sequences, but pack all choices of one item into a
single row: the shared prefix once, then every choice's remaining tokens as a branch that sees the
prefix and itself only (a 4-D attention mask, positions restarting after the prefix). One forward
pass per item instead of one per choice, and logits only where a continuation token is predicted.
Across items, a long prefix they all share (MMLU's description + few-shot examples) is computed
once per subject and reused through the key/value cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .formats import EvalDataError
from .tasks import Item


@dataclass
class Packed:
    tokens: list[int]
    positions: list[int]
    segments: list[int]  # -1 = shared prefix, i = branch of choice i
    targets: list[list[tuple[int, int]]]  # per choice: (packed index that predicts, target token id)


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's HFLM._encode_pair for causal models (no special tokens)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation, add_special_tokens=False)
    context_ids = tokenizer.encode(context, add_special_tokens=False)
    return context_ids, whole[len(context_ids):]


def _common_prefix(seqs: Sequence[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        if any(s[i] != seqs[0][i] for s in seqs[1:]):
            return i
    return n


def pack(tokenizer: Any, item: Item, max_length: int) -> Packed:
    pairs = [encode_pair(tokenizer, c, x) for c, x in zip(item.contexts, item.continuations)]
    seqs = [ctx + cont for ctx, cont in pairs]
    scored = [len(cont) for _, cont in pairs]
    # The prefix stops before the first scored token of any choice, so every branch keeps its own.
    shared = min(_common_prefix(seqs), min(len(s) - n for s, n in zip(seqs, scored)))
    branches = [s[shared:] for s in seqs]
    # Over-long items lose tokens from the left of the shared prefix, as lm-eval left-truncates
    # (it cuts each choice's sequence on its own, so a shorter choice may keep a few more tokens).
    cut = max(0, shared + max(len(b) for b in branches) - max_length)
    if cut and cut >= shared:
        raise EvalDataError(f"{item.task} row {item.row}: a choice is longer than the model's {max_length} tokens")
    prefix = seqs[0][cut:shared]
    tokens, positions, segments = list(prefix), list(range(len(prefix))), [-1] * len(prefix)
    targets = []
    for i, (seq, branch, n) in enumerate(zip(seqs, branches, scored)):
        start = len(tokens)
        tokens += branch
        positions += range(len(prefix), len(prefix) + len(branch))
        segments += [i] * len(branch)

        def packed_index(p: int) -> int:  # position p of seq (uncut) → index in the packed row
            return p - cut if p < shared else start + (p - shared)

        targets.append([(packed_index(t - 1), seq[t]) for t in range(len(seq) - n, len(seq))])
    return Packed(tokens, positions, segments, targets)


def _batch_tensors(batch: list[Packed], skip: int, pad_id: int, dtype: Any, device: Any):
    """Token ids, positions and the additive 4-D mask for rows whose first `skip` tokens are
    already in a key/value cache (every query may see all of them)."""
    import torch

    width = max(len(p.tokens) for p in batch) - skip
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(batch), width), dtype=torch.long)
    seg = torch.full((len(batch), width), -2, dtype=torch.long)  # -2 = padding
    for r, p in enumerate(batch):
        n = len(p.tokens) - skip
        ids[r, :n] = torch.tensor(p.tokens[skip:])
        pos[r, :n] = torch.tensor(p.positions[skip:])
        seg[r, :n] = torch.tensor(p.segments[skip:])
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    q_seg, k_seg = seg[:, :, None], seg[:, None, :]
    allowed = causal & ((k_seg == -1) | (k_seg == q_seg))
    allowed |= torch.eye(width, dtype=torch.bool)  # padding rows see themselves: no all-masked rows
    allowed = torch.cat([torch.ones(len(batch), width, skip, dtype=torch.bool), allowed], dim=2)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
    return ids.to(device), pos.to(device), mask[:, None].to(device)


def _model_dtype_device(model: Any):
    import torch

    # The embeddings carry the compute dtype even when linear layers are 4-bit (bitsandbytes).
    weight = model.get_input_embeddings().weight
    return (weight.dtype if weight.dtype.is_floating_point else torch.float32), weight.device


def prefix_cache(model: Any, tokens: list[int]) -> Any:
    """Key/value cache of a prefix that many items share (MMLU description + few-shot examples)."""
    import torch

    _, device = _model_dtype_device(model)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([tokens], device=device), use_cache=True, logits_to_keep=1)
    return out.cache


def score_packed(model: Any, batch: list[Packed], pad_id: int, shared: tuple[Any, int] | None = None) -> list[list[float]]:
    """Sum of continuation log-probs for every choice of every packed item in one forward pass.
    `shared` = (cache, n): the first n tokens of every row are that cache (see `prefix_cache`)."""
    import copy

    import torch

    dtype, device = _model_dtype_device(model)
    skip = shared[1] if shared else 0
    ids, pos, mask = _batch_tensors(batch, skip, pad_id, dtype, device)
    keep = torch.zeros(ids.shape, dtype=torch.bool)
    for r, p in enumerate(batch):
        for choice in p.targets:
            for index, _ in choice:
                keep[r, index - skip] = True
    # logits_to_keep as a boolean mask gives the kept rows flattened in row-major order.
    flat = keep.flatten().nonzero().squeeze(1).tolist()
    where = {index: k for k, index in enumerate(flat)}
    kwargs: dict[str, Any] = {"use_cache": False}
    if shared:
        cache = copy.deepcopy(shared[0])  # the forward pass appends to it
        cache.batch_repeat_interleave(len(batch))
        kwargs = {"use_cache": True, "cache": cache}  # transformers 5 renamed past_key_values
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep.to(device), **kwargs)
        logprobs = torch.log_softmax(out.logits.float(), dim=-1).cpu()
    width = ids.shape[1]
    return [[sum(logprobs[where[r * width + index - skip], token].item() for index, token in choice)
             for choice in p.targets] for r, p in enumerate(batch)]


def model_max_length(model: Any, cap: int = 4096) -> int:
    config = getattr(model, "config", None)
    return min(cap, int(getattr(config, "max_position_embeddings", cap) or cap))


def _shared_length(group: list[Packed], minimum: int) -> int:
    """Tokens every item of the group starts with, short of each item's own last prefix token
    (that one predicts the first continuation token, so it stays in the rows); 0 if not worth it."""
    if len(group) < 2:
        return 0
    limit = min(p.segments.count(-1) for p in group) - 1
    n = min(_common_prefix([p.tokens for p in group]), limit)
    return n if n >= minimum else 0


def loglikelihoods(model: Any, tokenizer: Any, items: Sequence[Item], batch_size: int = 8,
                   on_batch: Callable[[int], None] | None = None, min_shared: int = 32) -> list[list[float]]:
    """Per item, the log-likelihood of each choice, in the input order.

    Items of one subject that share a long prefix (description + few-shot examples) have it
    computed once and reused from a key/value cache. Within a group the longest items go first
    (fewer padded tokens, and a memory problem shows at once)."""
    max_length = model_max_length(model)
    packed = [pack(tokenizer, item, max_length) for item in items]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    groups: dict[tuple[str, str], list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault((item.task, item.subject), []).append(i)
    results: list[list[float]] = [[] for _ in items]
    step = max(1, batch_size)
    for members in groups.values():
        shared_n = _shared_length([packed[i] for i in members], min_shared)
        shared = (prefix_cache(model, packed[members[0]].tokens[:shared_n]), shared_n) if shared_n else None
        order = sorted(members, key=lambda i: -len(packed[i].tokens))
        for start in range(0, len(order), step):
            chunk = order[start:start + step]
            for i, lls in zip(chunk, score_packed(model, [packed[i] for i in chunk], pad_id, shared)):
                results[i] = lls
            if on_batch:
                on_batch(len(chunk))
    return results


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))  # first index on ties, as numpy


def item_metrics(item: Item, lls: Sequence[float]) -> dict[str, float]:
    """lm-eval's multiple-choice metrics: acc (argmax log-likelihood) and acc_norm (divided by the
    choice's length in characters, which lm-eval's code uses; bytes for ASCII text)."""
    return {
        "acc": float(_argmax(lls) == item.gold),
        "acc_norm": float(_argmax([ll / n for ll, n in zip(lls, item.choice_lengths)]) == item.gold),
    }
