"""Personas inside a real ChatSession (tiny model): pinned through truncation, greeting, live edits."""
from __future__ import annotations

import os

import pytest

from tuichat import paths
from tuichat.core.session import ChatSession
from tuichat.core.config import Settings
from tuichat.runtime.transformers_backend import Engine
from tuichat.core.history import History
from tuichat.personas.library import PersonaLibrary


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine.load(str(tiny_model_dir), device="cpu", progress=lambda _t: None)


def _session(engine, persona="catgirl", budget=1024):
    settings = Settings(temperature=0, repetition_penalty=1.0, max_new_tokens=2, knowledge=False, context_budget=budget)
    return ChatSession(engine, History(), PersonaLibrary(), None, settings, persona=persona)


def test_a_1000_turn_session_never_loses_the_persona(engine):
    session = _session(engine)
    persona = session.persona
    assert session.branch()[0].as_message() == {"role": "assistant", "content": persona.greeting}  # the greeting opens it
    for i in range(1000):
        question = session.add_user_message(f"question {i}: 你还记得你是谁吗？")
        session.add_answer(question.id, f"answer {i}: I forgot everything.")
    reply = session.send("你是谁？").wait()
    messages = reply.prompt.messages
    pinned = persona.system_messages()
    assert messages[: len(pinned)] == pinned  # system prompt first, then every example exchange
    assert messages[-1] == {"role": "user", "content": "你是谁？"}
    assert reply.prompt.dropped_turns > 900 and reply.prompt_tokens <= 1024
    assert sum(1 for m in messages if m["role"] == "system") == 1
    assert messages[len(pinned)]["content"].startswith("question ")  # whole turns kept: starts at a user message


def test_an_edited_user_persona_applies_from_the_next_turn(engine):
    user_file = paths.user_personas_dir() / "catgirl.md"
    user_file.write_text("---\nname: catgirl\ngreeting: 喵？\n---\n第一版。\n", encoding="utf-8")
    session = _session(engine)
    assert session.send("hi").wait().prompt.messages[0]["content"] == "第一版。"
    user_file.write_text("---\nname: catgirl\ngreeting: 喵？\n---\n第二版，更长一点。\n", encoding="utf-8")
    os.utime(user_file, ns=(user_file.stat().st_atime_ns, user_file.stat().st_mtime_ns + 1_000_000))
    assert session.send("hi again").wait().prompt.messages[0]["content"] == "第二版，更长一点。"
