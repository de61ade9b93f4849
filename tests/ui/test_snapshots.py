"""Layout snapshots at fixed terminal sizes (pytest-textual-snapshot). Content is fixed: personas
come from tests/ui/data/personas, the conversation from history, the knowledge base is a stand-in
that returns fixed results. Update after an intended change with `pytest tests/ui --snapshot-update`
and look at the report before committing."""
from __future__ import annotations

from pathlib import Path

import pytest

from tuichat.knowledge import DocInfo, Hit, KBStatus, Retrieval, Skipped
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.knowledge import KnowledgePanel
from ui_helpers import loaded

DATA = Path(__file__).parent / "data"
ANSWER = """Use a list comprehension:

```python
squares = [n * n for n in range(10)]
```

It reads as *"n squared for each n"*."""


class FixedKnowledge:
    """Stands in for a KnowledgeBase with fixed contents, so the panel's snapshot never changes."""

    def __init__(self) -> None:
        self.retrieval = Retrieval("teapot code name", [
            Hit("teapot-protocol.md", "Its code name is TEAPOT-418. Every kettle that follows it must whistle at "
                "exactly 92 decibels.", 0.71, 0.64, 0.78),
            Hit("river-moss.md", "Varn moss grows only on the north side of granite stones.", 0.22, 0.2, 0.24),
        ], gate=0.5, passed_gate=True)

    def needs_sync(self) -> bool:
        return False

    def status(self) -> KBStatus:
        return KBStatus(Path("knowledge"), [DocInfo("teapot-protocol.md", 2), DocInfo("river-moss.md", 1)],
                        [Skipped("scan.pdf", "PDF has no text layer (a scan?): run OCR on it first")])

    def retrieve(self, query: str) -> Retrieval:
        return self.retrieval


@pytest.fixture
def fixed_personas(monkeypatch):
    monkeypatch.setattr("tuichat.paths.bundled_personas_dir", lambda: DATA / "personas")


@pytest.fixture
def snapshot_app(fixed_personas, make_session, make_tui):
    def make(knowledge=None):
        session = make_session(knowledge=knowledge)
        history = session.history
        sid = history.new_session("assistant", "tiny", "Squares")
        greeting = history.add_message(sid, "assistant", "Hello! What can I help you with today?")
        question = history.add_message(sid, "user", "How do I square the numbers 0 to 9 in Python?", parent_id=greeting)
        history.add_message(sid, "assistant", ANSWER, parent_id=question)
        session.resume(sid)
        return make_tui(session)

    return make


async def settle(pilot) -> None:
    screen = await loaded(pilot)
    screen.query_one(PromptInput).cursor_blink = False
    await pilot.pause()


def test_main_screen(snap_compare, snapshot_app):
    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=settle)


def test_main_screen_at_40x12(snap_compare, snapshot_app):
    assert snap_compare(snapshot_app(), terminal_size=(40, 12), run_before=settle)


def test_persona_picker(snap_compare, snapshot_app):
    async def open_picker(pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=open_picker)


def test_knowledge_panel(snap_compare, snapshot_app):
    knowledge = FixedKnowledge()

    async def open_panel(pilot) -> None:
        screen = await loaded(pilot)
        await pilot.press("ctrl+b")
        screen.query_one(KnowledgePanel).show_retrieval(knowledge.retrieval)
        await settle(pilot)

    assert snap_compare(snapshot_app(knowledge), terminal_size=(100, 28), run_before=open_panel)
