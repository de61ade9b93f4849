"""A persona may bind a model setup: an adapter (by name or folder, or "base"), a knowledge folder,
and sampling settings (its `generation`, applied per answer by the session). Choosing the persona
applies them and says what changed; an adapter that cannot be found or loaded is a notice and the
model stays as it was. Loads weights and may index documents: run it off the UI thread."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tuichat.errors import TuichatError


@dataclass
class SetupResult:
    applied: list[str]  # "adapter alpha", "knowledge ~/notes", "temperature 0.2"
    problems: list[str]
    knowledge: Any = None  # a new KnowledgeBase when the persona names a folder


def has_setup(persona: Any) -> bool:
    return bool(getattr(persona, "adapter", "") or getattr(persona, "knowledge", "") or persona.generation)


def apply_setup(session: Any, switcher: Any, persona: Any) -> SetupResult:
    result = SetupResult([], [])
    if getattr(persona, "adapter", ""):
        try:
            active = switcher.activate(switcher.find(persona.adapter, session.settings))
            result.applied.append(f"adapter {active}" if active else "the base model (no adapter)")
        except TuichatError as exc:
            result.problems.append(f"persona {persona.name}: {exc}; the model stays {switcher.describe()}")
    if getattr(persona, "knowledge", ""):
        folder = Path(persona.knowledge).expanduser()
        if not folder.is_dir():
            result.problems.append(f"persona {persona.name}: knowledge folder {folder} does not exist; knowledge unchanged")
        else:
            from tuichat.bootstrap import open_knowledge

            try:
                result.knowledge = open_knowledge(replace(session.settings, knowledge=True, knowledge_dir=str(folder)),
                                                  lambda _text: None)
                session.knowledge = result.knowledge
                result.applied.append(f"knowledge {folder}")
            except TuichatError as exc:
                result.problems.append(f"persona {persona.name}: {exc}; knowledge unchanged")
    result.applied += [f"{key} {value}" for key, value in persona.generation.items()
                       if key not in session.settings.explicit]
    return result
