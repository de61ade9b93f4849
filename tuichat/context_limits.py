"""The context budget checked against what it must hold.

The model's window caps the budget (bootstrap.clamp_to_window); here the budget must also leave room
for the persona's pinned messages (system prompt and example exchanges) plus a short message. A
budget below that is raised with a notice (shortening the answer length if the window requires);
a persona that does not fit the window at all is an error.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from tuichat.errors import ConfigError

MESSAGE_ROOM = 32  # tokens left beside the pinned messages for the user's message, at the least
MIN_ANSWER = 16  # tokens an answer may still have when the window is tight


def fit_persona(settings: Any, runtime: Any, persona: Any, window: int | None, say: Callable[[str], None]) -> Any:
    """`settings` with a context budget that holds `persona` (notice when raised)."""
    need = runtime.count_tokens(list(persona.system_messages()) + [{"role": "user", "content": ""}]) + MESSAGE_ROOM
    if window and need + MIN_ANSWER > window:
        raise ConfigError(f"persona '{persona.name}' needs {need} tokens of context but the model holds {window}; "
                          f"shorten its system prompt or examples, or use a model with a longer context")
    if settings.context_budget >= need:
        return settings
    say(f"notice: context budget raised from {settings.context_budget} to {need} tokens: "
        f"persona '{persona.name}' needs that much")
    max_new = settings.max_new_tokens
    if window and need + max_new > window:
        max_new = window - need
        say(f"notice: answers limited to {max_new} tokens to fit the model's {window}-token window")
    return replace(settings, context_budget=need, max_new_tokens=max_new)
