"""A/B answers in the real app: two columns streamed one after the other, keep one; both are stored
as sibling answers of the question with the kept one on screen, so the DPO export writes the pair."""
from __future__ import annotations

from textual.widgets import Markdown

from tuichat.ui.screens.ab_answers import ABScreen, ABSetupScreen
from tuichat.ui.widgets.chat import ChatPane
from tuichat.ui.widgets.input import PromptInput
from ui_helpers import idle, loaded, wait_for


async def start_ab(pilot):
    await pilot.press("f3")

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ABSetupScreen), what="the A/B setup")
    await pilot.press("enter")  # base vs the first adapter, preselected
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ABScreen), what="the A/B screen")
    ab = pilot.app.screen
    await wait_for(pilot, lambda: ab.ended, timeout=60, what="both answers")
    await pilot.pause()
    return ab


async def test_ab_shows_two_columns_and_keeping_one_stores_the_pair(make_chat, tiny_model_dir):
    session, app = make_chat()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        screen.query_one(PromptInput).insert("Name three colours.")
        await pilot.press("enter")
        await idle(pilot, screen)
        shown = session.last_reply.text
        ab = await start_ab(pilot)
        base, alpha = ab.run.answers
        assert [a.variant.label for a in ab.run.answers] == ["base model", "adapter alpha"]
        assert base.text == shown and alpha.text != base.text  # the base column is the chat's own answer
        assert ab.query_one("#ab-text-0", Markdown).source == base.text
        assert ab.query_one("#ab-text-1", Markdown).source == alpha.text
        assert session.engine.active_adapter is None  # back to what was active before
        await pilot.press("2")
        await wait_for(pilot, lambda: pilot.app.screen is screen, what="back to the chat")
        await pilot.pause()
        last = screen.query_one(ChatPane).last_answer()
        assert last.text == alpha.text and "+ alpha" in last.speaker
        assert (session.branch()[-1].content, session.branch()[-1].model) == (alpha.text, f"{tiny_model_dir.name} + alpha")

    from tuichat.core.training_export import dpo_rows

    conversation = session.history.conversation(session.session_id)  # as stored, read back
    question = next(t for t in conversation.branch() if t.role == "user")
    answers = [(t.content, t.model) for t in conversation.children(question.id)]
    assert answers == [(base.text, tiny_model_dir.name), (alpha.text, f"{tiny_model_dir.name} + alpha")]  # the
    # base answer shown before A/B was the same text from the same model: stored once, not twice
    assert conversation.branch()[-1].content == alpha.text
    rows = dpo_rows(conversation, None, only_kept=True)
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [(alpha.text, base.text)]


async def test_ab_keep_neither_changes_nothing(make_chat):
    session, app = make_chat()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        screen.query_one(PromptInput).insert("Hello?")
        await pilot.press("enter")
        await idle(pilot, screen)
        before = [(m.role, m.content, m.chosen) for m in session.history.messages(session.session_id)]
        await start_ab(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: pilot.app.screen is screen, what="back to the chat")
    assert [(m.role, m.content, m.chosen) for m in session.history.messages(session.session_id)] == before
