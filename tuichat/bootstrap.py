"""One place that turns settings into a ready chat: personas, knowledge, model runtime, history and
the session. Every front end (the app, `--plain`, `ask`, the evals) and the tests go through here, so
what one of them measures is what the others run.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from tuichat.core.config import Settings
    from tuichat.core.session import ChatSession
    from tuichat.knowledge import KnowledgeBase

Say = Callable[[str], None]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def open_session(
    settings: "Settings",
    personas_dirs: Sequence[str | Path] = (),
    force_adapter: bool = False,
    progress: Say | None = None,
    sync_knowledge: bool = True,
) -> "ChatSession":
    """Load everything a chat needs and return a ready ChatSession."""
    from tuichat.core.history import History
    from tuichat.core.session import ChatSession
    from tuichat.personas.library import PersonaLibrary
    from tuichat.runtime.transformers_backend import Engine

    say = progress or _stderr
    personas = PersonaLibrary([Path(d) for d in personas_dirs])
    for problem in personas.errors:
        say(f"warning: {problem}")
    personas.get(settings.persona)  # unknown persona: fail before the slow model load
    knowledge = open_knowledge(settings, say, sync_knowledge)
    engine = Engine.load(
        settings.model, settings.adapter, device=settings.device, dtype=settings.dtype,
        load_in_4bit=settings.load_in_4bit, force_adapter=force_adapter, progress=say,
    )
    from tuichat.context_limits import fit_context_budget

    settings = fit_context_budget(settings, engine, personas.get(settings.persona), say)
    return ChatSession(engine, History(), personas, knowledge, settings)


def open_knowledge(settings: "Settings", say: Say = _stderr, sync: bool = True) -> "KnowledgeBase | None":
    if not settings.knowledge:
        return None
    from tuichat import paths
    from tuichat.knowledge import KnowledgeBase

    folder = Path(settings.knowledge_dir).expanduser() if settings.knowledge_dir else paths.default_knowledge_dir()
    kb = KnowledgeBase(folder, gate=settings.gate, top_k=settings.top_k)
    if sync and kb.needs_sync():
        say(f"Indexing documents in {folder} …")
        report = kb.sync()
        for skipped in report.skipped:
            say(f"skipped {skipped.path}: {skipped.reason}")
    return kb
