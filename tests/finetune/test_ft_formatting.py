"""Prompt formatting and label masking on SmolLM2's real tokenizer, length handling, batching."""
from __future__ import annotations

import copy

import pytest

from finetune.data import DataError, Example
from finetune.formatting import IGNORE, choose_pad_token, encode, fit_lengths
from tuichat.runtime import templates


@pytest.fixture(scope="module")
def tokenizer(embedded_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir))
    choose_pad_token(tok)
    return tok


@pytest.fixture(scope="module")
def alpaca_tokenizer(tokenizer):
    """The same tokenizer with its chat template removed: a base model that gets the Alpaca prompt."""
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = None
    return tok


def _alpaca(instruction, output, extra=""):
    user = f"{instruction}\n\n{extra}" if extra else instruction
    return Example(1, [{"role": "user", "content": user}, {"role": "assistant", "content": output}],
                   {"instruction": instruction, "input": extra, "output": output})


def _labelled(tok, enc):
    return [i for i, label in zip(enc.input_ids, enc.labels) if label != IGNORE]


def test_pad_is_a_special_token_other_than_eos(tokenizer):
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.pad_token == "<|endoftext|>"


def test_only_the_response_and_eos_are_labelled(tokenizer):
    example = _alpaca("Translate into English.", "The weather is nice today.", "今天天气很好。")
    enc = encode(tokenizer, example)
    prompt = templates.render(tokenizer, example.messages[:1], add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    # The prompt is exactly what chat time feeds the model, token for token, and fully masked.
    assert enc.input_ids[: len(prompt_ids)] == prompt_ids
    assert enc.labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    labelled = _labelled(tokenizer, enc)
    assert enc.labels[len(prompt_ids):] == enc.input_ids[len(prompt_ids):]
    assert tokenizer.decode(labelled) == "The weather is nice today.<|im_end|>\n"
    assert tokenizer.eos_token_id in labelled
    assert tokenizer.decode(enc.input_ids) == templates.render(tokenizer, example.messages, add_generation_prompt=False)


def test_train_on_inputs_labels_everything(tokenizer):
    enc = encode(tokenizer, _alpaca("Say hi", "Hi!"), train_on_inputs=True)
    assert enc.labels == enc.input_ids


def test_every_assistant_turn_of_a_chat_is_labelled(tokenizer):
    messages = [
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "你好吗？"},
        {"role": "assistant", "content": "很好。"},
    ]
    enc = encode(tokenizer, Example(1, messages))
    spans, current = [], []
    for token, label in zip(enc.input_ids, enc.labels):
        if label != IGNORE:
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    spans.append(tokenizer.decode(current))
    assert spans == ["Hello.<|im_end|>\n", "很好。<|im_end|>\n"]


def test_template_less_model_gets_alpaca_prompt_with_eos_appended(alpaca_tokenizer):
    tok = alpaca_tokenizer
    enc = encode(tok, _alpaca("Add the numbers.", "5", "2, 3"))
    text = tok.decode(enc.input_ids)
    assert text.startswith(templates.alpaca_prompt("Add the numbers.", "2, 3"))
    labelled = _labelled(tok, enc)
    assert labelled[-1] == tok.eos_token_id
    assert tok.decode(labelled) == "5<|im_end|>"


def test_length_report_counts_cut_response_tokens(tokenizer):
    short = encode(tokenizer, _alpaca("Say hi", "Hi!"))
    long = encode(tokenizer, _alpaca("Count", " ".join(str(i) for i in range(200))))
    limit = len(short.input_ids) + 5
    kept, report = fit_lengths([short, long], limit, "truncate")
    assert report.over_limit == 1
    assert report.response_tokens_cut == len(long.input_ids) - limit
    assert report.response_tokens == short.trainable + long.trainable
    assert [len(e.input_ids) for e in kept] == [len(short.input_ids), limit]
    assert "1 examples (50.0%) exceed" in "\n".join(report.lines())
    kept, report = fit_lengths([short, long], limit, "drop")
    assert len(kept) == 1 and report.dropped == 1


def test_examples_left_without_response_tokens_are_refused(tokenizer):
    long_prompt = Example(7, [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "ok"}])
    encoded = [encode(tokenizer, _alpaca("Say hi", "Hi!")), encode(tokenizer, long_prompt)]
    with pytest.raises(DataError, match=r"data.csv: row 7 would keep no response token .*--length_strategy drop"):
        fit_lengths(encoded, 64, "truncate", "data.csv")
    kept, _ = fit_lengths(encoded, 64, "drop")
    assert [e.row for e in kept] == [1]
    long_prompt.source = "zh.json"  # from a mix of files: the error names the row's own file
    encoded = [encode(tokenizer, _alpaca("Say hi", "Hi!")), encode(tokenizer, long_prompt)]
    with pytest.raises(DataError, match=r"^zh.json: row 7 would keep no response token"):
        fit_lengths(encoded, 64, "truncate", "en.json,zh.json")


def test_padding_free_batch_keeps_examples_apart(tiny_model_dir, tokenizer):
    """Logits of each example inside a padding-free batch equal those of the example alone."""
    import torch
    from transformers import AutoModelForCausalLM

    from finetune.collate import PaddedCollator, PaddingFreeCollator

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    model.config.use_cache = False
    a = encode(tokenizer, _alpaca("Say hi", "Hi!"))
    b = encode(tokenizer, _alpaca("Translate into English.", "Good morning.", "早上好"))
    features = [{"input_ids": e.input_ids, "labels": e.labels} for e in (a, b)]
    batch = PaddingFreeCollator()(features)
    assert batch["labels"][0, len(a.input_ids)].item() == IGNORE  # no target across the boundary
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        alone_b = model(input_ids=torch.tensor([b.input_ids])).logits[0]
        alone_a = model(input_ids=torch.tensor([a.input_ids])).logits[0]
    torch.testing.assert_close(packed[len(a.input_ids):], alone_b, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed[: len(a.input_ids)], alone_a, atol=1e-4, rtol=1e-4)
    padded = PaddedCollator(tokenizer.pad_token_id)(features)
    eos_positions = padded["input_ids"][0] == tokenizer.eos_token_id
    assert (padded["labels"][0][eos_positions] == tokenizer.eos_token_id).any()  # EOS stays a target
    assert (padded["labels"][0][len(a.input_ids):] == IGNORE).all()  # padding is not


def test_training_prompt_ids_equal_the_chat_engines(tiny_model_dir):
    """The ids finetune masks as prompt are the ids tuichat's engine feeds at chat time."""
    from tuichat.runtime.transformers_backend import Engine

    engine = Engine.load(str(tiny_model_dir))
    choose_pad_token(engine.tokenizer)
    example = _alpaca("Name a data structure with FIFO order.", "A queue.")
    enc = encode(engine.tokenizer, example)
    prompt_ids = engine.prompt_ids(example.messages[:1])
    assert enc.input_ids[: len(prompt_ids)] == prompt_ids
    assert all(label == IGNORE for label in enc.labels[: len(prompt_ids)])
    assert enc.labels[len(prompt_ids)] != IGNORE
