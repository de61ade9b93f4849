"""Failures become notifications (the app keeps running); key remaps; copying; the import boundary."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tuichat.errors import ConfigError, ModelLoadError
from tuichat.core.history import History
from tuichat.ui.app import make_app
from tuichat.ui.widgets.chat import ChatPane
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.status import StatusBar
from ui_helpers import idle, loaded, wait_for


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_failed_model_load_is_a_notification_not_a_crash(settings):
    progress_seen = []

    def loader(progress):
        progress("Converting model.gguf once (about 20 s)…")
        progress_seen.append(True)
        raise ModelLoadError("no model at /nowhere: give a Hugging Face folder or a .gguf file")

    app = make_app(loader, settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: any("no model at /nowhere" in m for m in notifications(app)))
        screen = app.screen
        assert progress_seen and screen.session is None
        assert screen.query_one(StatusBar).state == "model failed to load"
        assert "no model at /nowhere" in str(screen.query_one(ChatPane).query(".notice").last().render())
        # Typing still works and nothing is lost: the message stays in the box.
        screen.query_one(PromptInput).insert("hello?")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.query_one(PromptInput).text == "hello?"
        assert app.is_running


async def test_load_progress_is_shown_while_the_model_loads(make_session, settings):
    import threading

    release = threading.Event()
    session = make_session()

    def loader(progress):
        progress("Converting SmolLM2.gguf once into the cache (about 20 s)")
        release.wait(10)
        return session

    app = make_app(loader, settings)
    async with app.run_test(size=(100, 30)) as pilot:
        notice = lambda: str(app.screen.query_one(ChatPane).query(".notice").last().render())  # noqa: E731
        await wait_for(pilot, lambda: "Converting SmolLM2.gguf" in notice(), what="the progress text")
        assert app.screen.query_one(StatusBar).state == "loading"
        release.set()
        await loaded(pilot)
        assert app.screen.query_one(StatusBar).state == "ready"


async def test_a_generation_error_is_a_notification_and_the_next_message_works(make_session, make_tui):
    session = make_session(max_new_tokens=0)  # invalid: generation refuses to start
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        screen.query_one(PromptInput).insert("first")
        await pilot.press("enter")
        await idle(pilot, screen)
        assert any("max_new_tokens" in m for m in notifications(app))
        assert not screen.answering and app.is_running

        session.settings.max_new_tokens = 8
        screen.query_one(PromptInput).insert("second")
        await pilot.press("enter")
        await idle(pilot, screen)
        assert session.last_reply is not None and session.last_reply.stats.finish_reason in ("eos", "length")
    assert [m.content for m in History().messages(session.session_id) if m.role == "user"] == ["first", "second"]


async def test_keys_can_be_remapped_from_settings(make_session, make_tui):
    session = make_session(keys={"new_session": "f2", "newline": "ctrl+underscore"})
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        first = session.session_id
        await pilot.press("ctrl+n")  # no longer bound
        await pilot.pause()
        assert session.session_id == first
        await pilot.press("f2")
        await pilot.pause()
        assert session.session_id != first
        await pilot.press("a", "ctrl+underscore", "b")
        assert screen.query_one(PromptInput).text == "a\nb"


def test_an_unknown_action_in_the_keymap_is_a_config_error(settings):
    from dataclasses import replace

    with pytest.raises(ConfigError, match="regenerat"):
        make_app(lambda progress: None, replace(settings, keys={"regenerat": "f5"}))


async def test_copy_keys_put_the_answer_and_its_code_blocks_on_the_clipboard(make_session, make_tui):
    session = make_session()
    history = session.history
    answer = "Two ways:\n\n```python\nprint(1)\n```\n\nor\n\n```sh\necho 2\n```\n"
    sid = history.new_session("assistant", "tiny")
    question = history.add_message(sid, "user", "show code")
    history.add_message(sid, "assistant", answer, parent_id=question)
    session.resume(sid)
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+t")
        assert app.clipboard == answer
        await pilot.press("ctrl+g")
        assert app.clipboard == "echo 2"
        await pilot.press("ctrl+g")
        assert app.clipboard == "print(1)"
        await pilot.press("ctrl+g")
        assert app.clipboard == "echo 2", "pressing again cycles back to the last block"


def test_the_ui_does_not_import_torch_or_transformers_at_module_level():
    code = (
        "import sys, tuichat.ui, tuichat.ui.app, tuichat.ui.workers, tuichat.core.session\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'peft', 'llama_index'))\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


async def test_every_action_is_bound_and_in_the_command_palette(make_session, make_tui):
    from tuichat.ui import keys

    session = make_session()
    app = make_tui(session)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        bound = {binding.action for _, binding, _, _ in screen.active_bindings.values()}
        assert {a.action for a in keys.ACTIONS} <= bound and "quit" in bound
        commands = {c.title: c for c in app.get_system_commands(screen)}
        assert {a.title for a in keys.ACTIONS} <= set(commands)
        first = session.session_id
        app.call_later(commands["New session"].callback)  # as the palette runs a chosen command
        await pilot.pause()
        assert session.session_id != first
