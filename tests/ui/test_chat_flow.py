"""Pilot tests of the main loop on the tiny model: send, stream, store, stop, new session, persona."""
from __future__ import annotations

import time

from tuichat.core.history import History
from tuichat.ui import messages
from tuichat.ui.screens.chat import ChatScreen
from tuichat.ui.widgets.chat import ChatMessage, ChatPane
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.status import StatusBar

from ui_helpers import idle, loaded, wait_for


def pane_texts(screen) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in screen.query_one(ChatPane).query(ChatMessage)]


async def type_and_send(pilot, text: str) -> None:
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.insert(text)
    await pilot.press("enter")


async def test_answer_streams_into_the_pane_and_is_stored(make_session, make_tui, monkeypatch):
    session = make_session(max_new_tokens=40)
    app = make_tui(session)
    streamed: list[str] = []
    original = ChatScreen.on_token_streamed

    async def spy(screen, message: messages.TokenStreamed) -> None:
        streamed.append(message.text)
        await original(screen, message)

    monkeypatch.setattr(ChatScreen, "on_token_streamed", spy)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await type_and_send(pilot, "Hello, who are you?")
        await idle(pilot, screen)

        assert streamed, "no TokenStreamed message reached the screen"
        assert all(b.startswith(a) for a, b in zip(streamed, streamed[1:])), "streamed text must only grow"
        answer = session.last_reply.text
        assert answer and all(answer.startswith(text) for text in streamed)
        assert pane_texts(screen)[-2:] == [("user", "Hello, who are you?"), ("assistant", answer)]
        assert screen.query_one(PromptInput).text == "", "a sent message leaves the box"
        status = screen.query_one(StatusBar)
        assert status.ttft_s is not None and status.context_tokens > 0

    stored = History().messages(session.session_id)
    assert [(m.role, m.content, m.partial) for m in stored[-2:]] == [
        ("user", "Hello, who are you?", False), ("assistant", answer, False)]


async def test_escape_stops_the_answer_and_keeps_it_as_partial(make_session, make_tui):
    session = make_session(max_new_tokens=100_000)  # would run for many seconds
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await type_and_send(pilot, "Tell me a long story.")
        await wait_for(pilot, lambda: screen._answer_widget is not None and len(screen._answer_widget.text) > 5,
                       what="the first tokens")
        await pilot.press("escape")
        await idle(pilot, screen)

        reply = session.last_reply
        assert reply.stats.finish_reason == "cancelled"
        assert 0 < reply.stats.new_tokens < 3000
        last = screen.query_one(ChatPane).last_answer()
        assert last.partial and last.text == reply.text
        assert "stopped" in str(last.query_one(".role").render())
    stored = History().messages(session.session_id)[-1]
    assert stored.role == "assistant" and stored.partial and stored.content == reply.text


async def test_ctrl_n_starts_a_fresh_session(make_session, make_tui):
    session = make_session()
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await type_and_send(pilot, "First question")
        await idle(pilot, screen)
        old_id = session.session_id
        await pilot.press("ctrl+n")
        await pilot.pause()

        assert session.session_id != old_id
        greeting = session.persona.greeting
        assert pane_texts(screen) == [("assistant", greeting)]
        # The old session is kept in history with its messages.
        assert [m.content for m in History().messages(old_id) if m.role == "user"] == ["First question"]


async def test_typing_newsession_and_quit_work_like_the_seed(make_session, make_tui):
    session = make_session()
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        first = session.session_id
        await type_and_send(pilot, "newsession")
        await pilot.pause()
        assert session.session_id != first
        await type_and_send(pilot, "  quit ")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 0


async def test_persona_switch_changes_the_next_system_message(make_session, make_tui):
    session = make_session()
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press(*"translat", "enter")
        await pilot.pause()

        translator = session.personas.get("translator")
        assert session.persona.name == "translator"
        assert screen.query_one(StatusBar).persona == "translator"
        assert pane_texts(screen)[-1] == ("assistant", translator.greeting)

        await type_and_send(pilot, "Bonjour")
        await idle(pilot, screen)
        system = session.last_reply.prompt.messages[0]
        assert system["role"] == "system" and system["content"] == translator.system_prompt


async def test_newline_key_inserts_a_newline_and_enter_sends_both_lines(make_session, make_tui):
    session = make_session()
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("a", "ctrl+j", "b")
        assert screen.query_one(PromptInput).text == "a\nb"
        await pilot.press("enter")
        await idle(pilot, screen)
    assert [m.content for m in History().messages(session.session_id) if m.role == "user"] == ["a\nb"]


async def test_regenerate_shows_the_new_answer_and_keeps_the_old_one(make_session, make_tui):
    session = make_session()
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await type_and_send(pilot, "Say something")
        await idle(pilot, screen)
        first = session.last_reply
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.answering or session.last_reply is not first)
        await idle(pilot, screen)
        roles = [role for role, _ in pane_texts(screen)]
        assert roles == ["assistant", "user", "assistant"]
        assert screen.query_one(ChatPane).last_answer().versions == "2/2"
    stored = History().messages(session.session_id)
    assert [m.role for m in stored] == ["assistant", "user", "assistant", "assistant"]
    assert stored[-2].parent_id == stored[-1].parent_id == stored[1].id
    assert stored[-1].content == session.last_reply.text and stored[-1].chosen and not stored[-2].chosen


async def test_quitting_mid_answer_stops_generation_and_keeps_the_partial_answer(make_session, make_tui):
    session = make_session(max_new_tokens=100_000)
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await type_and_send(pilot, "Tell me a long story.")
        await wait_for(pilot, lambda: screen._answer_widget is not None and screen._answer_widget.text,
                       what="the first tokens")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    deadline = time.monotonic() + 10
    while session.last_reply is None and time.monotonic() < deadline:  # the worker thread finishes the write
        time.sleep(0.05)
    reply = session.last_reply
    assert reply is not None and reply.stats.finish_reason == "cancelled"
    stored = History().messages(session.session_id)[-1]
    assert stored.role == "assistant" and stored.partial and stored.content == reply.text


async def test_a_pause_in_typing_prefills_the_draft_so_sending_prefills_only_the_rest(make_session, make_tui):
    session = make_session(max_new_tokens=8)
    engine = session.engine
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        draft = "Tell me a long story about a lighthouse keeper"
        screen.query_one(PromptInput).insert(draft)
        await wait_for(pilot, lambda: len(engine.warm_ids) > 0 and engine.wait_warm(0)
                       and "lighthouse" in engine.tokenizer.decode(list(engine.warm_ids)),
                       what="the draft to be prefilled")
        warmed = len(engine.warm_ids)
        await pilot.press(*" and the sea", "enter")
        await idle(pilot, screen)
        stats = session.last_reply.stats
        assert stats.reused_tokens >= warmed  # the draft's tokens were not prefilled again
        assert stats.prompt_tokens - stats.reused_tokens <= 12  # " keeper and the sea" + the template's closing
