"""A/B without the screen: persona variants, the adapter restored afterwards, and a stop."""
from __future__ import annotations

import threading

import pytest

from tuichat.adapters import ab
from tuichat.adapters.switcher import AdapterSwitcher
from tuichat.errors import TuichatError


def test_two_personas_on_the_active_adapter_and_the_adapter_stays(make_chat, runs_dir, tiny_model_dir):
    session, _ = make_chat()
    switcher = AdapterSwitcher(session.engine)
    with pytest.raises(TuichatError, match="send a message first"):
        ab.run_ab(session, switcher, [], threading.Event(), lambda *_: None)
    session.send("Name three colours.").wait()
    switcher.activate(runs_dir / "beta")
    variants = [ab.Variant("persona assistant", ab.CURRENT, "assistant"), ab.Variant("persona catgirl", ab.CURRENT, "catgirl")]
    seen: list[tuple[int, str]] = []
    run = ab.run_ab(session, switcher, variants, threading.Event(), lambda i, text: seen.append((i, text)))
    assert [a.model for a in run.answers] == [f"{tiny_model_dir.name} + beta"] * 2
    assert run.answers[0].text != run.answers[1].text  # another system prompt, another answer
    assert [i for i, _ in seen] == sorted(i for i, _ in seen)  # column A filled before column B, never mixed
    assert session.engine.active_adapter == "beta"


def test_stopping_ab_keeps_what_was_written_and_restores_the_adapter(make_chat, runs_dir):
    session, _ = make_chat(max_new_tokens=100_000)
    switcher = AdapterSwitcher(session.engine)
    session.add_user_message("Tell me a long story.")
    cancel = threading.Event()

    def on_text(column: int, text: str) -> None:
        if column == 0 and len(text) > 20:
            cancel.set()

    run = ab.run_ab(session, switcher, [ab.Variant("adapter alpha", runs_dir / "alpha"), ab.Variant("base", None)],
                    cancel, on_text, interval_s=0.0)
    assert len(run.answers) == 1 and run.answers[0].finish_reason == "cancelled" and run.answers[0].text
    assert session.engine.active_adapter is None
