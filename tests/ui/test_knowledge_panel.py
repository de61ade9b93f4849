"""The knowledge panel on a small real knowledge base: documents, skipped files with reasons,
the passages retrieved for the last answer, and background sync of a newly dropped file."""
from __future__ import annotations

import shutil
from pathlib import Path

from tuichat.knowledge import KnowledgeBase
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.knowledge import KnowledgePanel
from ui_helpers import idle, loaded, wait_for

DATA = Path(__file__).parent / "data" / "knowledge"


def panel_text(screen) -> str:
    panel = screen.query_one(KnowledgePanel)
    return "\n".join(str(static.render()) for static in panel.query("Static"))


async def test_panel_shows_documents_skipped_files_and_retrieved_passages(make_session, make_tui, tmp_path):
    folder = tmp_path / "knowledge"
    shutil.copytree(DATA, folder)
    session = make_session(knowledge=KnowledgeBase(folder, gate=0.3, top_k=2), knowledge_dir=str(folder))
    app = make_tui(session)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await loaded(pilot)
        panel = screen.query_one(KnowledgePanel)
        assert not panel.display
        await pilot.press("ctrl+b")
        assert panel.display
        await wait_for(pilot, lambda: "teapot-protocol.md" in panel_text(screen), timeout=60, what="the first sync")
        text = panel_text(screen)
        assert "river-moss.md" in text
        assert "empty-notes.txt" in text and "empty file" in text

        screen.query_one(PromptInput).insert("What is the code name of the Teapot Protocol?")
        await pilot.press("enter")
        await idle(pilot, screen)
        retrieval = session.last_reply.retrieval
        assert retrieval is not None and retrieval.hits
        shown = str(screen.query_one("#kb-retrieval").render())
        assert retrieval.hits[0].source in shown and f"{retrieval.hits[0].score:.2f}" in shown
        assert ("used" if retrieval.passed_gate else "not used") in shown

        # A file dropped while the app runs is picked up by the background sync.
        (folder / "lighthouse.md").write_text("The Ormsby lighthouse keeper logs the fog horn hours in a blue book.\n")
        await wait_for(pilot, lambda: "lighthouse.md" in panel_text(screen), timeout=60, what="the background sync")


async def test_panel_says_when_the_knowledge_base_is_off(make_session, make_tui):
    app = make_tui(make_session())
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("ctrl+b")
        assert "knowledge base is off" in panel_text(screen)
        await pilot.press("ctrl+b")
        assert not screen.query_one(KnowledgePanel).display
