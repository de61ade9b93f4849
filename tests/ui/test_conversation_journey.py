"""The whole conversation model driven through the real app on the tiny model: send, stop,
regenerate twice, flip versions, edit an earlier message, switch session, resume, search, export —
with the SQLite rows checked after each step through a second connection."""
from __future__ import annotations

import sqlite3

from tuichat.ui.screens.edit import EditScreen
from tuichat.ui.screens.search import SearchScreen
from tuichat.ui.screens.sessions import SessionsScreen
from tuichat.ui.widgets.chat import ChatMessage, ChatPane
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.sessions import SessionList

from ui_helpers import idle, loaded, wait_for


def rows(session, session_id):
    """(id, role, content, partial, parent_id, chosen) as committed."""
    db = sqlite3.connect(session.history.path)
    return db.execute("SELECT id, role, content, partial, parent_id, chosen FROM messages WHERE session_id = ? "
                      "ORDER BY id", (session_id,)).fetchall()


def shown(screen) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in screen.query_one(ChatPane).query(ChatMessage)]


async def send(pilot, screen, text: str) -> None:
    screen.query_one(PromptInput).insert(text)
    await pilot.press("enter")
    await idle(pilot, screen)


async def test_send_stop_regenerate_flip_edit_switch_resume_search_export(make_session, make_tui, tuichat_home):
    session = make_session(max_new_tokens=6, temperature=1.0)  # sampled: the versions differ
    app = make_tui(session)
    async with app.run_test(size=(110, 36)) as pilot:
        screen = await loaded(pilot)
        a = session.session_id

        # send
        await send(pilot, screen, "first question")
        greeting, q1, a1 = rows(session, a)
        assert (q1[1], q1[2], q1[4]) == ("user", "first question", greeting[0]) and a1[4] == q1[0] and not a1[3]

        # stop: a long answer, escape after the first tokens; it is kept, marked partial
        session.settings.max_new_tokens = 100_000
        screen.query_one(PromptInput).insert("tell me a long story")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen._answer_widget is not None and screen._answer_widget.text, what="tokens")
        await pilot.press("escape")
        await idle(pilot, screen)
        session.settings.max_new_tokens = 6
        q2, stopped = rows(session, a)[3:]
        assert q2[2] == "tell me a long story" and stopped[3] == 1 and stopped[4] == q2[0]
        assert "(stopped)" in str(screen.query_one(ChatPane).last_answer()._role_line())

        # regenerate twice: three versions under the same question, nothing deleted, the newest shown
        for count in (2, 3):
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: not screen.answering and len([r for r in rows(session, a) if r[4] == q2[0]]) == count,
                           what="the regenerated answer")
            await idle(pilot, screen)
        answers = [r for r in rows(session, a) if r[4] == q2[0]]
        assert len(answers) == 3 and answers[0][:5] == stopped[:5] and [r[5] for r in answers] == [0, 0, 1]
        assert screen.query_one(ChatPane).last_answer().versions == "3/3"

        # flip: select the answer (ctrl+up), ← shows version 2; the choice is stored
        await pilot.press("ctrl+up")
        await pilot.press("left")
        await pilot.pause()
        assert [r[5] for r in rows(session, a) if r[4] == q2[0]] == [0, 1, 0]
        assert shown(screen)[-1] == ("assistant", answers[1][2])
        assert screen.query_one(ChatPane).last_answer().versions == "2/3"

        # edit the first question: ↑ to it, Enter, new text, Enter → a branch with its own answer
        for _ in range(3):
            await pilot.press("up")
        assert screen.focused.turn_id == q1[0]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EditScreen), what="the edit box")
        box = app.screen.query_one(PromptInput)
        box.clear()
        box.insert("first question, edited")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.answering and len(rows(session, a)) == 9, what="the answer to the edit")
        await idle(pilot, screen)
        after_edit = rows(session, a)
        edited = next(r for r in after_edit if r[2] == "first question, edited")
        assert edited[4] == greeting[0] and edited[5] == 1
        assert next(r for r in after_edit if r[0] == q1[0])[5] == 0, "the old branch is kept, not shown"
        assert len(after_edit) == len(rows(session, a)) == 9, "no row lost"
        assert [text for _, text in shown(screen)][1:2] == ["first question, edited"] and len(shown(screen)) == 3

        # switch session
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: session.session_id != a, what="the new session")
        b = session.session_id
        await send(pilot, screen, "a question in another session")
        assert [r[2] for r in rows(session, b) if r[1] == "user"] == ["a question in another session"]
        assert len(rows(session, a)) == 9

        # resume the first one: the edited branch comes back as it was on screen
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions list")
        options = app.screen.query_one(SessionList)
        options.highlighted = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == str(a))
        await pilot.press("enter")
        await wait_for(pilot, lambda: session.session_id == a, what="the resumed session")
        await pilot.pause()
        assert [text for _, text in shown(screen)][1] == "first question, edited"

        # search: the old first question is found and opened, its branch on screen again
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), what="the search screen")
        app.screen.query_one("#search-query").value = '"tell me a long'
        await pilot.press("enter")
        assert "unbalanced quote" in str(app.screen.query_one("#search-status").render())
        app.screen.query_one("#search-query").value = "long story"
        await pilot.press("enter")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen is screen, what="the search to close")
        await pilot.pause()
        texts = [text for _, text in shown(screen)]
        assert texts[1:4] == ["first question", a1[2], "tell me a long story"]
        assert next(r for r in rows(session, a) if r[0] == q1[0])[5] == 1
        assert screen.focused.turn_id == q2[0]

        # export: the branch on screen, in Markdown
        await pilot.press("escape")
        await pilot.press("f9")
        await pilot.pause()
    [export] = (tuichat_home / "data" / "exports").glob("*.md")
    text = export.read_text(encoding="utf-8")
    assert "tell me a long story" in text and "first question, edited" not in text
    assert len(rows(session, a)) == 9


async def test_f4_shows_what_the_next_prompt_holds(make_session, make_tui):
    from tuichat.ui.screens.context import ContextScreen

    session = make_session(max_new_tokens=4)
    app = make_tui(session)
    async with app.run_test(size=(110, 36)) as pilot:
        screen = await loaded(pilot)
        await send(pilot, screen, "hello")
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen), what="the context breakdown")
        text = str(app.screen.query_one("#context-lines").render())
        parts = session.context_breakdown()
        assert f"Persona '{session.persona.name}': {parts.persona_tokens:,} tokens" in text
        assert f"History: {parts.turns_kept} turn(s) kept" in text and f"of {parts.budget:,} tokens" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="the breakdown to close")
