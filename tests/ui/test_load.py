"""Bad input and load: a 100 KB paste, a 1,000-turn session, a 40×12 terminal, and every binding
pressed while an answer streams. The app must stay responsive and lose nothing."""
from __future__ import annotations

import asyncio
import sqlite3
import time

from textual import events

from tuichat.ui import keys
from tuichat.ui.screens.chat import ChatScreen
from tuichat.ui.widgets.chat import ChatMessage, ChatPane
from tuichat.ui.widgets.chat.pane import PAGE
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.status import StatusBar
from ui_helpers import idle, loaded, wait_for


async def test_a_100_kb_paste_is_sent_and_stored_whole(make_session, make_tui):
    session = make_session()
    app = make_tui(session)
    big = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(2000))[:100_000]
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        prompt = screen.query_one(PromptInput)
        app.post_message(events.Paste(big))  # as the terminal driver delivers it
        await pilot.pause()
        assert prompt.text == big
        await pilot.press("enter")
        await idle(pilot, screen)
        assert session.last_reply.stats.finish_reason in ("eos", "length")
        shown = [m for m in screen.query_one(ChatPane).query(ChatMessage) if m.role == "user"][-1]
        assert shown.text == big
        assert "more characters" in str(shown.query_one(".body").render())
        assert any("too long" in n.message for n in app._notifications), "the user is told the message was cut"
        assert session.last_reply.prompt_tokens <= session.settings.context_budget
    stored = [m for m in session.history.messages(session.session_id) if m.role == "user"]
    assert stored[-1].content == big


async def test_a_1000_turn_session_opens_with_a_page_and_loads_earlier_pages(make_session, make_tui):
    session = make_session()
    history = session.history
    sid = history.new_session("assistant", "tiny", "marathon")
    # One transaction for the 2,000 rows: History commits (and syncs) each write, ~10 ms apiece here.
    with sqlite3.connect(history.path) as db:
        parent = None
        for i in range(1000):
            for role, text in (("user", f"question {i}"), ("assistant", f"answer **{i}**")):
                parent = db.execute(
                    "INSERT INTO messages (session_id, role, content, partial, created, parent_id) VALUES (?, ?, ?, 0, ?, ?)",
                    (sid, role, text, time.time(), parent),
                ).lastrowid
    session.resume(sid)
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        pane = screen.query_one(ChatPane)
        mounted = list(pane.query(ChatMessage))
        assert len(mounted) == PAGE and mounted[-1].text == "answer **999**"
        button = pane.query_one("#show-earlier")
        assert "1,960 earlier" in str(button.label)
        # The button sits above the newest page, as a user scrolls up to it. The pane's own scroll to
        # the newest message can land after a first scroll_home on a busy machine: scroll until seen.
        for _ in range(50):
            pane.scroll_home(animate=False)
            await pilot.pause(0.05)
            if screen.region.contains_region(button.region) and button.region.height:
                break
        await pilot.click("#show-earlier")
        await pilot.pause()
        mounted = list(pane.query(ChatMessage))
        assert len(mounted) == 2 * PAGE and mounted[0].text == f"question {1000 - PAGE}"

        prompt = screen.query_one(PromptInput)
        prompt.insert("and one more")
        await pilot.press("enter")
        await idle(pilot, screen)
        assert session.last_reply.stats.finish_reason in ("eos", "length")
        assert session.last_reply.prompt_tokens <= session.settings.context_budget
        assert screen.query_one(StatusBar).context_tokens is not None
    assert len(history.messages(sid)) == 2002


async def test_a_40x12_terminal_still_shows_the_box_status_and_answers(make_session, make_tui):
    session = make_session(max_new_tokens=400)
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        screen.query_one(PromptInput).insert("Hello from a tiny terminal")
        await pilot.press("enter")
        await pilot.resize_terminal(40, 12)  # while the answer streams
        await idle(pilot, screen)
        assert app.size == (40, 12)
        for widget in (screen.query_one(PromptInput), screen.query_one(StatusBar)):
            region = widget.region
            assert region.height >= 1 and region.width == 40 and region.bottom <= 12, widget
        assert screen.query_one(ChatPane).region.height >= 1
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)


async def press_now(app, key: str) -> None:
    """Press a key without waiting for the app to go idle (Pilot.press would wait out the stream)."""
    app.simulate_key(key)
    await asyncio.sleep(0.1)


async def opens_a_dialog(pilot, app, screen, within: float = 1.0) -> bool:
    """Whether a screen opens over `screen` within `within` seconds (slowly on a busy CPU)."""
    try:
        await wait_for(pilot, lambda: app.screen is not screen, timeout=within)
    except AssertionError:
        return False
    return True


async def test_every_binding_pressed_while_streaming_loses_nothing(make_session, make_tui):
    session = make_session(max_new_tokens=100_000)
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        first_session = session.session_id
        prompt = screen.query_one(PromptInput)
        prompt.insert("Tell me a long story")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.answering and screen._answer_widget is not None and screen._answer_widget.text, what="streaming")

        prompt.insert("typed while streaming")
        await press_now(app, "enter")  # refused while busy: the text stays in the box
        assert prompt.text == "typed while streaming"
        for action in keys.ACTIONS:
            if action.action in ("stop", "regenerate", "new_session"):
                continue  # pressed last, in the order below
            await press_now(app, action.key)
            if await opens_a_dialog(pilot, app, screen):  # persona picker, sessions, search, …: close it
                await press_now(app, "escape")
                await wait_for(pilot, lambda: app.screen is screen, what=f"the {action.action} dialog to close")
            assert app.screen is screen, action.action
            assert screen.answering, f"the answer ended before {action.action} was pressed: make it longer"
        await press_now(app, "ctrl+r")  # stops the answer, then answers again
        await wait_for(pilot, lambda: screen.answering and screen._answer_widget is not None and screen._answer_widget.text, what="the regenerated answer")
        await press_now(app, "ctrl+n")  # stops that one, then starts a new session
        await press_now(app, "escape")
        await idle(pilot, screen)
        await wait_for(pilot, lambda: session.session_id != first_session, what="the new session")

        stored = session.history.messages(first_session)
        assert [m.content for m in stored if m.role == "user"] == ["Tell me a long story"]
        answers = [m for m in stored if m.role == "assistant"][1:]  # after the greeting
        # the stopped answer and its regenerated version (stopped by ctrl+n): both kept, both partial
        assert len(answers) == 2 and all(a.partial and a.content for a in answers)
        assert answers[0].parent_id == answers[1].parent_id and answers[1].chosen and not answers[0].chosen

        assert prompt.text == "typed while streaming"
        session.settings.max_new_tokens = 24
        await pilot.press("enter")  # now it is sent
        await idle(pilot, screen)
        assert [m.content for m in session.history.messages(session.session_id) if m.role == "user"] == [
            "typed while streaming"]
        assert app.is_running
