"""The context budget checked against what it must hold and what the model can hold.

The budget must leave room for the persona's pinned messages (system prompt and example exchanges)
plus a short message, and cannot exceed the model's context window. A budget outside those bounds is
moved to the nearest one with a notice; a persona that does not fit the window at all is an error.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from tuichat.errors import ConfigError

MESSAGE_ROOM = 32  # tokens left beside the pinned messages for the user's message, at the least
_WINDOW_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "n_ctx")


def model_window(engine: Any) -> int | None:
    """The model's context window in tokens, when the runtime can tell."""
    window = getattr(engine, "context_window", None)
    if isinstance(window, int) and window > 0:
        return window
    config = getattr(getattr(engine, "model", None), "config", None)
    for name in _WINDOW_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def fit_context_budget(settings: Any, engine: Any, persona: Any, say: Callable[[str], None]) -> Any:
    """`settings` with a context budget that holds the persona and fits the model (notice when moved)."""
    pinned = list(persona.system_messages())
    need = engine.count_tokens(pinned + [{"role": "user", "content": ""}]) + MESSAGE_ROOM
    window = model_window(engine)
    if window is not None and need > window:
        raise ConfigError(f"persona '{persona.name}' needs {need} tokens of context but the model holds {window}; "
                          f"shorten its system prompt or examples, or use a model with a longer context")
    budget = settings.context_budget
    if budget < need:
        say(f"notice: context budget raised from {budget} to {need} tokens: persona '{persona.name}' needs that much")
        budget = need
    elif window is not None and budget > window:
        say(f"notice: context budget lowered from {budget} to {window} tokens, the model's context window")
        budget = window
    return settings if budget == settings.context_budget else replace(settings, context_budget=budget)
