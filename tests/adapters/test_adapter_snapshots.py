"""Snapshots of the model & adapter picker and the A/B view at 80×24 and 120×40. Their content is
fixed (a stand-in catalog and fixed A/B answers), so only a layout change changes them. Update with
`pytest tests/adapters/test_adapter_snapshots.py --snapshot-update` and look at the report."""
from __future__ import annotations

from pathlib import Path

import pytest

from tuichat.adapters import ab
from tuichat.adapters.catalog import AdapterInfo, LocalModel
from tuichat.adapters.switcher import AdapterSwitcher, Catalog
from tuichat.ui.screens.ab_answers import ABScreen
from tuichat.ui.screens.model_picker import ModelPickerScreen
from tuichat.ui.widgets.input import PromptInput
from ui_helpers import loaded, wait_for

ADAPTERS = [
    AdapterInfo("alpaca-zh", Path("runs/alpaca-zh"), "tiny-llama0", "f" * 16, "lora", "data/alpaca_zh_demo.json", 900, 120,
                1.234, 1.456, "2026-11-30 18:02", deltas={"arc_easy": 2.0, "boolq": -1.0, "hellaswag": 0.5}),
    AdapterInfo("qlora-code", Path("runs/qlora-code"), "tiny-llama0", "f" * 16, "qlora", "data/code.jsonl", 400, 60,
                0.981, None, "2026-11-29 09:15"),
    AdapterInfo("llama-chat", Path("runs/llama-chat"), "Llama-3.2-1B", "e" * 16, "lora", "data/chat.jsonl", 5000, 800,
                0.7, 0.8, "2026-11-01 12:00", mismatch="trained on Llama-3.2-1B, not on tiny-llama0"),
    AdapterInfo("broken", Path("runs/broken"),
                problem="runs/broken/adapter_config.json is not valid JSON (line 1): the adapter is damaged; retrain or restore it"),
]
MODELS = [LocalModel("embedded SmolLM2-135M-Instruct", "", "embedded", True),
          LocalModel("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "/models/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "gguf")]
ANSWER_A = "Red, green and blue.\n\n- red\n- green\n- blue"
ANSWER_B = "Three colours: **crimson**, teal and ochre. 红色、绿色和蓝色。"


@pytest.fixture
def fixed(monkeypatch):
    catalog = Catalog("tiny-llama0", "cpu", None, ADAPTERS, MODELS)
    monkeypatch.setattr(AdapterSwitcher, "catalog", lambda self, settings, with_deltas=True: catalog)

    def fixed_run(session, switcher, variants, cancel, on_text, interval_s=0.1):
        run = ab.ABRun("Name three colours.")
        for i, (variant, text) in enumerate(zip(variants, (ANSWER_A, ANSWER_B))):
            on_text(i, text)
            run.answers.append(ab.ABAnswer(variant, text, f"tiny-llama0 #{i}", 0.0, "eos"))
        return run

    monkeypatch.setattr(ab, "run_ab", fixed_run)


@pytest.fixture
def app(fixed, make_chat):
    session, app = make_chat()
    sid = session.history.new_session("assistant", "tiny", "Colours")
    question = session.history.add_message(sid, "user", "Name three colours.")
    session.history.add_message(sid, "assistant", "Red, green, blue.", parent_id=question, model="tiny-llama0")
    session.resume(sid)
    return app


async def settle(pilot):
    screen = await loaded(pilot)
    screen.query_one(PromptInput).cursor_blink = False
    await pilot.pause()
    return screen


async def open_picker(pilot):
    await settle(pilot)
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ModelPickerScreen) and pilot.app.screen.catalog)
    await pilot.pause()


async def open_ab(pilot):
    await settle(pilot)
    await pilot.press("f3")
    await wait_for(pilot, lambda: pilot.app.screen.__class__.__name__ == "ABSetupScreen")
    await pilot.press("enter")  # base + alpaca-zh, preselected
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ABScreen) and pilot.app.screen.ended)
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_model_picker(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=open_picker)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_ab_answers(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=open_ab)
