"""The full-screen app on a model behind a real llama.cpp server: it answers, and a connection the
server drops mid-answer becomes a notification while the app keeps the message and carries on."""
from __future__ import annotations

import sys
from pathlib import Path

from server_env import KEY, KEY_ENV
from tuichat.core.config import Settings
from tuichat.core.history import History
from tuichat.core.session import ChatSession
from tuichat.personas.library import PersonaLibrary
from tuichat.runtime.openai_backend import OpenAIRuntime

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from ui_helpers import idle, loaded, wait_for  # noqa: E402


async def test_the_app_answers_and_survives_a_dropped_connection(clean_proxy, monkeypatch):
    from tuichat.ui.app import make_app
    from tuichat.ui.widgets.input import PromptInput

    monkeypatch.setenv(KEY_ENV, KEY)
    settings = Settings(temperature=0.0, max_new_tokens=12, repetition_penalty=1.0, knowledge=False)
    runtime = OpenAIRuntime(clean_proxy.url, "smol", KEY_ENV)
    session = ChatSession(runtime, History(), PersonaLibrary([]), None, settings)
    app = make_app(lambda progress: session, settings)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        prompt = screen.query_one(PromptInput)
        prompt.insert("What is the capital of France?")
        await pilot.press("enter")
        await idle(pilot, screen)
        assert session.last_reply.text and session.last_reply.stats.finish_reason in ("eos", "length")

        clean_proxy.set(drop_after=3)
        prompt.insert("And of Spain?")
        await pilot.press("enter")
        await idle(pilot, screen)
        await wait_for(pilot, lambda: any("closed the connection mid-answer" in n.message for n in app._notifications),
                       what="the failure notification")
        assert app.is_running

        clean_proxy.clear()
        prompt.insert("And of Italy?")
        await pilot.press("enter")
        await idle(pilot, screen)
    stored = History().messages(session.session_id)
    assert [m.content for m in stored if m.role == "user"] == ["What is the capital of France?", "And of Spain?", "And of Italy?"]
    partial = [m for m in stored if m.role == "assistant" and m.partial]
    assert len(partial) == 1 and partial[0].content  # the dropped answer, kept and marked partial
    assert not stored[-1].partial and stored[-1].role == "assistant"
