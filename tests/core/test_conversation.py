"""Prompt assembly, tested exactly with SmolLM2's real tokenizer and chat template."""
from dataclasses import dataclass

import pytest
from transformers import AutoTokenizer

from tuichat.runtime import templates
from tuichat.core.prompt import CUT_MARK, build_prompt, split_turns

PINNED = [{"role": "system", "content": "You are a cat. Always say meow."}]


class Counter:
    """Counts prompt tokens exactly as the engine does (chat template, no extra special tokens)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def count_tokens(self, messages):
        return len(self.tokenizer(templates.render(self.tokenizer, messages), add_special_tokens=False)["input_ids"])


@pytest.fixture(scope="module")
def counter(embedded_model_dir):
    return Counter(AutoTokenizer.from_pretrained(str(embedded_model_dir)))


def history(n):
    out = []
    for i in range(n):
        out += [{"role": "user", "content": f"question number {i} about the weather"},
                {"role": "assistant", "content": f"answer number {i}: it is sunny today"}]
    return out


def test_everything_fits(counter):
    p = build_prompt(counter, PINNED, history(3), "new question", budget=1024)
    assert p.messages == PINNED + history(3) + [{"role": "user", "content": "new question"}]
    assert p.dropped_turns == 0 and p.notices == []
    assert p.token_count == counter.count_tokens(p.messages)


def test_oldest_whole_turns_dropped_first_and_the_rest_is_maximal(counter):
    h = history(40)
    budget = 300
    p = build_prompt(counter, PINNED, h, "new question", budget=budget)
    assert p.messages[0] == PINNED[0]
    assert p.token_count <= budget
    kept = p.messages[1:-1]
    assert kept == h[len(h) - len(kept):], "a suffix of whole turns is kept"
    assert len(kept) % 2 == 0
    one_more = PINNED + h[len(h) - len(kept) - 2:] + [p.messages[-1]]
    assert counter.count_tokens(one_more) > budget, "one more turn would not have fitted"
    assert p.dropped_turns == 40 - len(kept) // 2 and any("left out" in n for n in p.notices)


def test_persona_survives_a_1000_turn_session(counter):
    p = build_prompt(counter, PINNED, history(1000), "still there?", budget=512)
    assert p.messages[0] == PINNED[0] and p.token_count <= 512
    assert p.messages[-1]["content"] == "still there?"


def test_too_long_user_message_keeps_its_end_with_notice(counter):
    text = " ".join(f"word{i}" for i in range(3000)) + " FINAL QUESTION?"
    p = build_prompt(counter, PINNED, history(5), text, budget=256)
    user = p.messages[-1]["content"]
    assert user.startswith(CUT_MARK) and user.endswith("FINAL QUESTION?")
    assert p.token_count <= 256
    assert any("too long" in n for n in p.notices)
    assert p.messages[0] == PINNED[0]


@dataclass
class Hit:
    source: str
    text: str
    score: float


def test_references_ride_on_the_user_message_and_are_cut_first(counter):
    hits = [Hit(f"doc{i}.md", "reference text " * 40, 0.9 - i / 10) for i in range(4)]
    p = build_prompt(counter, PINNED, [], "What does the doc say?", references=hits, budget=1024)
    user = p.messages[-1]["content"]
    assert user.startswith("What does the doc say?") and "doc0.md" in user
    assert p.references_used == 4
    tight = build_prompt(counter, PINNED, [], "What does the doc say?", references=hits, budget=300)
    assert 0 < tight.references_used < 4 and "doc0.md" in tight.messages[-1]["content"]
    assert tight.token_count <= 300 and any("references left out" in n for n in tight.notices)


def test_split_turns_keeps_a_leading_greeting_as_its_own_turn():
    msgs = [{"role": "assistant", "content": "hello!"}] + history(2)
    assert [len(t) for t in split_turns(msgs)] == [1, 2, 2]


def test_alpaca_template_for_a_tokenizer_without_chat_template():
    class NoTemplate:
        chat_template = None

    text = templates.render(NoTemplate(), [{"role": "system", "content": "Be kind."},
                                           {"role": "user", "content": "Name a colour."}])
    assert text == templates.alpaca_prompt("Name a colour.", "Be kind.")
    assert text.endswith("### Response:\n")
