"""A/B answers: the last question answered by two variants (base vs adapter, adapter X vs Y, two
personas), one after the other on the same loaded base, then the user keeps one or neither.

The two answers are generated one after the other (one CPU: two at once would each be half as
fast), each into its own callback, so tokens never mix. Nothing is written to history until the
user keeps one: then both are stored as sibling answers of the question (`store_pair`), the kept
one on screen, so it continues the chat and the DPO export writes the pair.
After the run the adapter that was active before is active again.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tuichat.errors import TuichatError

CURRENT = "current"  # a variant's adapter: keep whatever is active


@dataclass(frozen=True)
class Variant:
    label: str
    adapter: Path | None | str = CURRENT  # a folder, None = base, or CURRENT
    persona: str | None = None  # None = the session's persona


@dataclass
class ABAnswer:
    variant: Variant
    text: str = ""
    model: str = ""
    seconds: float = 0.0
    finish_reason: str = ""


@dataclass
class ABRun:
    question: str
    answers: list[ABAnswer] = field(default_factory=list)
    seconds: float = 0.0


def available_variants(session: Any, switcher: Any, adapters: list[Any]) -> list[Variant]:
    """Base, each adapter that fits, and the current model with each other persona."""
    found = [Variant("base model", None)]
    found += [Variant(f"adapter {a.name}", a.path) for a in adapters if a.usable]
    found += [Variant(f"persona {p.name}", CURRENT, p.name) for p in session.personas.all()
              if p.name != session.persona.name]
    return found


def default_pair(variants: list[Variant], active_path: Path | None) -> tuple[int, int]:
    """Base vs the active adapter (or the first adapter, or the first other persona)."""
    if active_path is not None:
        index = next((i for i, v in enumerate(variants) if v.adapter == active_path), None)
        if index is not None:
            return 0, index
    return 0, 1 if len(variants) > 1 else 0


def last_question(session: Any) -> tuple[Any, list[dict[str, str]]]:
    """(the last user turn on screen, the conversation before it as messages); TuichatError if none."""
    branch = session.branch()
    index = max((i for i, t in enumerate(branch) if t.role == "user"), default=None)
    if index is None:
        raise TuichatError("nothing to compare yet: send a message first")
    return branch[index], [t.as_message() for t in branch[:index]]


def run_ab(session: Any, switcher: Any, variants: list[Variant], cancel: threading.Event,
           on_text: Callable[[int, str], None], interval_s: float = 0.1) -> ABRun:
    """Answer the last question with each variant in turn. `on_text(i, text so far)` at most every
    `interval_s` and once at the end of each answer. Stops early (partial answers) when cancelled."""
    from tuichat.core.prompt import build_prompt

    user, history = last_question(session)
    question, before = user.content, switcher.active_path
    retrieval = session.knowledge.retrieve(question) if session.knowledge is not None and question.strip() else None
    references = list(retrieval.references) if retrieval is not None else []
    run = ABRun(question)
    start = time.perf_counter()
    try:
        for number, variant in enumerate(variants):
            if cancel.is_set():
                break
            switcher.activate(before if variant.adapter == CURRENT else variant.adapter)
            persona = session.personas.get(variant.persona) if variant.persona else session.persona
            prompt = build_prompt(session.engine, persona.system_messages(), history, question, references,
                                  session.settings.context_budget)
            params = session.settings.generation_params(getattr(persona, "generation", None))
            answer = ABAnswer(variant, model=session.engine.model_name)
            began, last = time.perf_counter(), 0.0
            stream = session.engine.stream(prompt.messages, params, cancel, prompt_ids=prompt.token_ids)
            for _ in stream:
                if time.perf_counter() - last >= interval_s:
                    on_text(number, stream.text)
                    last = time.perf_counter()
            answer.text, answer.finish_reason = stream.text, stream.stats.finish_reason
            answer.seconds = time.perf_counter() - began
            on_text(number, stream.text)
            run.answers.append(answer)
    finally:
        switcher.activate(before)  # the chat goes on with the adapter it had
    run.seconds = time.perf_counter() - start
    return run


def store_pair(session: Any, run: ABRun, kept: int) -> int:
    """Store both answers as versions (siblings) of the question, the kept one on screen, so the
    conversation continues from it and the DPO export writes kept = chosen, other = rejected.
    An answer identical to a version already there (same text, same model) is not stored twice.
    Returns the kept answer's message id."""
    user, _ = last_question(session)

    def stored(answer: ABAnswer) -> int:
        same = next((t for t in session.conversation.children(user.id)
                     if t.role == "assistant" and t.content == answer.text and t.model == answer.model), None)
        if same is not None:
            session.select_version(same.id)
            return same.id
        partial = answer.finish_reason not in ("eos", "length")
        return session.add_answer(user.id, answer.text, answer.model, partial).id

    for index, answer in enumerate(run.answers):
        if index != kept:
            stored(answer)
    return stored(run.answers[kept])  # last, so it is the version on screen
