"""The model & adapter picker in the real app on the tiny model with two trained adapters."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList

from tuichat.ui.screens.model_picker import ModelPickerScreen
from tuichat.ui.widgets.chat import ChatMessage, ChatPane
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.status import StatusBar
from ui_helpers import idle, loaded, wait_for


def option_texts(screen) -> list[str]:
    options = screen.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def open_picker(pilot):
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ModelPickerScreen)
                   and pilot.app.screen.catalog is not None, what="the picker to list adapters")
    return pilot.app.screen


async def pick(pilot, text: str) -> None:
    picker = pilot.app.screen
    options = picker.query_one(OptionList)
    options.highlighted = next(i for i, t in enumerate(option_texts(picker)) if text in t)
    await pilot.press("enter")


async def ask(pilot, screen, text: str) -> str:
    screen.query_one(PromptInput).insert(text)
    await pilot.press("enter")
    await idle(pilot, screen)
    return screen.session.last_reply.text


async def regenerate(pilot, screen) -> str:
    before = screen.session.last_reply
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: screen.session.last_reply is not before and not screen.answering,
                   what="the regenerated answer")
    return screen.session.last_reply.text


async def test_picker_lists_both_adapters_with_provenance_and_swaps_live(make_chat, tiny_model_dir):
    session, app = make_chat()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        base = await ask(pilot, screen, "Name three colours.")
        picker = await open_picker(pilot)
        texts = option_texts(picker)
        alpha = next(t for t in texts if t.strip().startswith("alpha"))
        assert next(t for t in texts if t.strip().startswith("beta"))
        assert f"base {tiny_model_dir.name}" in alpha and "LORA" in alpha and "2 steps" in alpha and "36 rows" in alpha
        assert texts[0].startswith("● base")
        assert any("embedded SmolLM2" in t for t in texts)

        await pick(pilot, "alpha")
        status = screen.query_one(StatusBar)
        await wait_for(pilot, lambda: status.model.endswith("+ alpha") and not screen.swapping, what="the swap")
        adapted = await regenerate(pilot, screen)  # the same question, the same prompt
        last = screen.query_one(ChatPane).last_answer()
        assert "+ alpha" in last.speaker

        await open_picker(pilot)
        await pick(pilot, "base (no adapter)")
        await wait_for(pilot, lambda: "+" not in status.model and not screen.swapping, what="back to base")
        again = await regenerate(pilot, screen)

    assert adapted != base and again == base
    answers = [m for m in session.history.messages(session.session_id) if m.role == "assistant" and m.model]
    assert [m.model for m in answers] == [tiny_model_dir.name, f"{tiny_model_dir.name} + alpha", tiny_model_dir.name]
    assert len({m.parent_id for m in answers}) == 1  # three versions of one answer


async def test_switch_asked_while_answering_waits_for_the_answer(make_chat, tiny_model_dir):
    session, app = make_chat(max_new_tokens=100_000)  # runs until stopped
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        screen.query_one(PromptInput).insert("Name three colours.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.answering, what="the answer to start")
        await screen.switch_adapter(str(Path.cwd() / "runs" / "beta"))
        await pilot.pause(0.5)
        assert screen.answering and session.engine.active_adapter is None  # not switched mid-answer
        await pilot.press("escape")
        await idle(pilot, screen)
        await wait_for(pilot, lambda: session.engine.active_adapter == "beta", what="the switch after the answer")
        answer = session.branch()[-1]
        assert answer.role == "assistant" and answer.content and answer.model == tiny_model_dir.name  # all base


async def test_broken_adapter_is_greyed_with_one_line(make_chat, project, runs_dir):
    import shutil

    broken = project / "runs" / "zz-broken"
    shutil.copytree(runs_dir / "alpha", broken)
    (broken / "adapter_config.json").write_text("{", encoding="utf-8")
    try:
        session, app = make_chat()
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            picker = await open_picker(pilot)
            line = next(t for t in option_texts(picker) if "zz-broken" in t)
            assert "is not valid JSON (line 1)" in line
            options = picker.query_one(OptionList)
            index = next(i for i, t in enumerate(option_texts(picker)) if "zz-broken" in t)
            assert options.get_option_at_index(index).disabled
    finally:
        shutil.rmtree(broken)


async def test_picking_another_local_model_reloads_and_keeps_the_conversation(make_chat, tiny_model_dir):
    session, app = make_chat(model=str(tiny_model_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await ask(pilot, screen, "Name three colours.")
        sessions_before = [s.id for s in session.history.sessions()]
        await open_picker(pilot)
        await pick(pilot, "embedded SmolLM2")
        status = screen.query_one(StatusBar)
        await wait_for(pilot, lambda: screen.session is not None and screen.session is not session
                       and status.state == "ready", timeout=120, what=f"the embedded model to load ({status.state}: {[n.message for n in pilot.app._notifications]})")
        assert status.model.startswith("SmolLM2-135M-Instruct")
        assert screen.session.session_id == session.session_id
        assert [t.content for t in screen.session.branch() if t.role == "user"] == ["Name three colours."]
    assert [s.id for s in session.history.sessions()] == sessions_before  # no stray empty session
