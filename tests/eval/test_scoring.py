"""Scoring on the tiny model against log-likelihoods computed by hand from one plain forward pass
per (context, continuation), the way lm-eval computes them."""
from __future__ import annotations

import math

import pytest

from finetune.eval.scoring import encode_pair, item_metrics, loglikelihoods
from finetune.eval.tasks import Item, load_task


def hand_loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    import torch

    ctx, cont = encode_pair(tokenizer, context, continuation)
    with torch.no_grad():
        logits = model(torch.tensor([ctx + cont])).logits[0].double()
    total = 0.0
    for k, token in enumerate(cont):
        row = logits[len(ctx) - 1 + k]
        total += (row[token] - torch.logsumexp(row, dim=0)).item()
    return total


def test_encode_pair_moves_trailing_spaces_to_the_continuation(tiny_loaded):
    tok = tiny_loaded.tokenizer
    ctx, cont = encode_pair(tok, "Answer: ", "yes")
    assert ctx == tok.encode("Answer:", add_special_tokens=False)
    assert ctx + cont == tok.encode("Answer: yes", add_special_tokens=False)


def test_single_choice_matches_hand_computation(tiny_loaded):
    model, tok = tiny_loaded.model, tiny_loaded.tokenizer
    item = Item("t", "", 1, ("Question: What colour is the sky?\nAnswer:",), (" blue",), (4,), 0)
    [[got]] = loglikelihoods(model, tok, [item])
    assert got == pytest.approx(hand_loglikelihood(model, tok, item.contexts[0], item.continuations[0]), abs=1e-4)
    assert got < 0


@pytest.mark.parametrize("task, shots", [("arc_easy", 1), ("winogrande", 0), ("mmlu", 1), ("hellaswag", 0)])
def test_packed_batches_equal_separate_forward_passes(tiny_loaded, mini_data, task, shots):
    """Shared prefix + branches, several items of different lengths padded into one batch."""
    model, tok = tiny_loaded.model, tiny_loaded.tokenizer
    items = load_task(task, mini_data, num_fewshot=shots)
    got = loglikelihoods(model, tok, items, batch_size=len(items))
    for item, lls in zip(items, got):
        want = [hand_loglikelihood(model, tok, c, x) for c, x in zip(item.contexts, item.continuations)]
        assert lls == pytest.approx(want, abs=1e-4)
    one_by_one = loglikelihoods(model, tok, items, batch_size=1)
    assert all(a == pytest.approx(b, abs=1e-4) for a, b in zip(got, one_by_one))


def test_shared_few_shot_prefix_from_the_cache_equals_separate_passes(tiny_loaded, mini_data):
    """MMLU items of a subject share description + shots: that prefix is computed once and reused."""
    from finetune.eval import scoring

    model, tok = tiny_loaded.model, tiny_loaded.tokenizer
    items = load_task("mmlu", mini_data, num_fewshot=2)
    group = [scoring.pack(tok, i, 4096) for i in items if i.subject == "basic_arithmetic"]
    assert scoring._shared_length(group, minimum=1) > 20
    got = loglikelihoods(model, tok, items, batch_size=2, min_shared=1)
    for item, lls in zip(items, got):
        want = [hand_loglikelihood(model, tok, c, x) for c, x in zip(item.contexts, item.continuations)]
        assert lls == pytest.approx(want, abs=1e-4)


def test_over_long_items_lose_context_from_the_left(tiny_loaded, monkeypatch):
    from finetune.eval import scoring

    model, tok = tiny_loaded.model, tiny_loaded.tokenizer
    long_item = Item("t", "", 1, ("word " * 300 + "end:",) * 2, (" a", " b"), (1, 1), 0)
    monkeypatch.setattr(scoring, "model_max_length", lambda _m: 64)
    [lls] = scoring.loglikelihoods(model, tok, [long_item])
    assert all(math.isfinite(v) for v in lls)


def test_acc_and_acc_norm():
    item = Item("t", "", 1, ("q",) * 2, (" a", " bbbbbbbbbb"), (1, 10), 1)
    # raw: choice 0 wins; per character: choice 1 wins
    assert item_metrics(item, [-2.0, -5.0]) == {"acc": 0.0, "acc_norm": 1.0}
    # ties go to the first choice, as numpy's argmax
    assert item_metrics(Item("t", "", 1, ("q",) * 2, (" a", " b"), (1, 1), 1), [-1.0, -1.0])["acc"] == 0.0
