"""UI fixtures: real chat sessions on the tiny model (greedy, so runs repeat), the app built by the
same factory the CLI uses."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    import torch

    from tuichat.runtime.transformers_backend import Engine

    # One torch thread: on a shared, oversubscribed CPU two OpenMP threads spin against each other and
    # the 2-layer model drops from ~500 to ~4 tokens/s (measured); one thread is fast and repeatable.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Engine.load(str(tiny_model_dir))
    torch.set_num_threads(threads)


@pytest.fixture
def settings():
    from tuichat.core.config import Settings

    return Settings(temperature=0.0, max_new_tokens=24, knowledge=False, context_budget=512)


@pytest.fixture
def make_session(tiny_engine, settings, tuichat_home):
    """ChatSession factory on the tiny model; `knowledge` may be a KnowledgeBase or a stand-in."""
    from tuichat.core.session import ChatSession
    from tuichat.core.history import History
    from tuichat.personas.library import PersonaLibrary

    def make(knowledge: Any = None, **overrides: Any):
        return ChatSession(tiny_engine, History(), PersonaLibrary(), knowledge, replace(settings, **overrides))

    return make


@pytest.fixture
def make_tui(settings):
    from tuichat.ui.app import make_app

    def make(session_or_loader: Any):
        loader = session_or_loader if callable(session_or_loader) else (lambda progress: session_or_loader)
        return make_app(loader, getattr(session_or_loader, "settings", settings))

    return make
