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
    keep_history: bool = True,
) -> "ChatSession":
    """Load everything a chat needs and return a ready ChatSession. `keep_history` False: a session
    that stores nothing on disk (the evaluations, which use `ChatSession.answer_alone`)."""
    from tuichat.core.history import History
    from tuichat.core.session import ChatSession
    from tuichat.personas.library import PersonaLibrary
    from tuichat.runtime.loader import context_window

    say = progress or _stderr
    personas = PersonaLibrary([Path(d) for d in personas_dirs])
    for problem in personas.errors:
        say(f"warning: {problem}")
    personas.get(settings.persona)  # unknown persona: fail before the slow model load
    knowledge = open_knowledge(settings, say, sync_knowledge)
    runtime = open_runtime(settings, force_adapter, say)
    window = context_window(runtime)
    settings = clamp_to_window(settings, window, say)
    from tuichat.context_limits import fit_persona

    settings = fit_persona(settings, runtime, personas.get(settings.persona), window, say)
    return ChatSession(runtime, History(None if keep_history else ":memory:"), personas, knowledge, settings)


def open_runtime(settings: "Settings", force_adapter: bool = False, say: Say = _stderr):
    """The model runtime the settings ask for: a server's, or one loaded here."""
    from tuichat.runtime.loader import load_runtime

    if settings.backend == "openai":
        return open_server_runtime(settings, say)
    if settings.backend not in (None, "transformers", "llamacpp"):
        from tuichat.errors import ConfigError

        raise ConfigError(f"unknown backend '{settings.backend}' (known: transformers, llamacpp, openai)")
    from tuichat.runtime.models import catalogue_path

    return load_runtime(
        catalogue_path(settings.model), settings.adapter, backend=settings.backend, device=settings.device, dtype=settings.dtype,
        load_in_4bit=settings.load_in_4bit, force_adapter=force_adapter,
        n_ctx=settings.context_budget + settings.max_new_tokens, progress=say,
    )


def open_server_runtime(settings: "Settings", say: Say = _stderr):
    from tuichat.errors import ConfigError
    from tuichat.runtime.openai_backend import OpenAIRuntime
    from tuichat.runtime.openai_http import endpoint

    if not settings.base_url:
        raise ConfigError("--backend openai needs --base-url URL (or base_url in config.toml)")
    say(f"Connecting to {endpoint(settings.base_url).shown} …")
    runtime = OpenAIRuntime(settings.base_url, settings.model, settings.api_key_env, settings.tokenizer,
                            read_timeout=settings.server_timeout)
    if settings.adapter:
        runtime.set_adapter(settings.adapter)  # a served adapter name (vLLM --lora-modules NAME=PATH)
    if runtime.count_is_estimate:
        say("warning: this server cannot count tokens and no --tokenizer was given: context sizes are estimates")
    return runtime


def clamp_to_window(settings: "Settings", window: int | None, say: Say) -> "Settings":
    """Prompt budget + answer length must fit the model's context window: lower the budget if not."""
    if not window or settings.context_budget + settings.max_new_tokens <= window:
        return settings
    from dataclasses import replace

    budget = max(64, window - settings.max_new_tokens)
    max_new = min(settings.max_new_tokens, window - budget)
    say(f"note: context budget lowered from {settings.context_budget} to {budget} tokens to fit the model's "
        f"{window}-token window" + (f" (answers up to {max_new} tokens)" if max_new < settings.max_new_tokens else ""))
    return replace(settings, context_budget=budget, max_new_tokens=max_new)


def open_knowledge(settings: "Settings", say: Say = _stderr, sync: bool = True) -> "KnowledgeBase | None":
    if not settings.knowledge:
        return None
    from tuichat import paths
    from tuichat.knowledge import KnowledgeBase

    folder = Path(settings.knowledge_dir).expanduser() if settings.knowledge_dir else paths.default_knowledge_dir()
    kb = KnowledgeBase(folder, gate=settings.gate, top_k=settings.top_k, embedder=settings.embedder)
    if sync and kb.needs_sync():
        say(f"Indexing documents in {folder} …")
        report = kb.sync()
        for skipped in report.skipped:
            say(f"skipped {skipped.path}: {skipped.reason}")
        for notice in report.notices:
            say(notice)
    return kb
