"""The sessions list: resume, rename, delete with confirmation, export to Markdown."""
from __future__ import annotations

from tuichat import paths
from tuichat.ui.screens.confirm import ConfirmScreen
from tuichat.ui.screens.sessions import SessionsScreen
from tuichat.ui.widgets.chat import ChatMessage, ChatPane
from tuichat.ui.widgets.sessions import SessionList
from ui_helpers import loaded, wait_for


def past_session(history, title: str, exchanges: int) -> int:
    sid = history.new_session("assistant", "tiny", title)
    parent = None
    for i in range(exchanges):
        parent = history.add_message(sid, "user", f"{title} question {i}", parent_id=parent)
        parent = history.add_message(sid, "assistant", f"{title} answer {i}", parent_id=parent)
    return sid


async def open_sessions(pilot) -> SessionsScreen:
    await pilot.press("ctrl+l")
    await pilot.pause()
    assert isinstance(pilot.app.screen, SessionsScreen)
    return pilot.app.screen


def highlight(screen: SessionsScreen, session_id: int) -> None:
    options = screen.query_one(SessionList)
    options.highlighted = next(i for i in range(options.option_count)
                               if options.get_option_at_index(i).id == str(session_id))


async def test_resume_rename_delete_and_export(make_session, make_tui):
    session = make_session()
    history = session.history
    gardening = past_session(history, "Gardening", 2)
    cooking = past_session(history, "Cooking", 1)
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await loaded(pilot)
        current = session.session_id

        screen = await open_sessions(pilot)
        assert screen.query_one(SessionList).option_count == 3

        highlight(screen, cooking)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("ctrl+u", *"Baking bread", "enter")
        await pilot.pause()
        assert history.session(cooking).title == "Baking bread"

        await pilot.press("e")
        exports = list((paths.data_dir() / "exports").glob("*.md"))
        assert len(exports) == 1 and "Cooking answer 0" in exports[0].read_text()

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # cancelled: nothing deleted
        await pilot.pause()
        assert history.session(cooking) is not None
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert history.session(cooking) is None
        assert screen.query_one(SessionList).option_count == 2

        highlight(screen, gardening)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is chat and session.session_id == gardening
        texts = [m.text for m in chat.query_one(ChatPane).query(ChatMessage)]
        assert texts == ["Gardening question 0", "Gardening answer 0", "Gardening question 1", "Gardening answer 1"]
        assert history.session(current) is not None


async def test_deleting_the_current_session_starts_a_new_one(make_session, make_tui):
    session = make_session()
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        current = session.session_id
        screen = await open_sessions(pilot)
        highlight(screen, current)
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert session.history.session(current) is None
        assert session.session_id != current and session.history.session(session.session_id) is not None


async def test_the_session_being_answered_cannot_be_deleted(make_session, make_tui):
    session = make_session(max_new_tokens=100_000)
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await loaded(pilot)
        chat.query_one("#prompt").insert("Tell me a long story")
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.answering and chat._answer_widget.text, what="streaming")
        app.simulate_key("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen)
                       and app.screen.query_one(SessionList).option_count, what="the sessions list")
        highlight(app.screen, session.session_id)
        app.simulate_key("d")
        await wait_for(pilot, lambda: any("being written" in n.message for n in app._notifications))
        assert isinstance(app.screen, SessionsScreen), "no confirmation is offered"
        app.simulate_key("escape")
        await wait_for(pilot, lambda: app.screen is chat, what="the chat screen")
        app.simulate_key("escape")
        await wait_for(pilot, lambda: not chat.answering, what="the answer to stop")
        assert session.history.session(session.session_id) is not None
