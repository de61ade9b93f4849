"""A/B answers: the last question answered by two variants (base vs adapter, adapter X vs Y, two
personas), one after the other on the same loaded base, then the user keeps one or neither.

The two answers are generated one after the other (one CPU: two at once would each be half as
fast), each into its own callback, so tokens never mix. Nothing is written to history until the
user keeps one: then the pair is stored (`store_pair`) and the kept answer continues the chat.
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


def last_question(session: Any) -> tuple[int, str]:
    """(index of the last user turn, its text); TuichatError when there is none yet."""
    index = max((i for i, t in enumerate(session.turns) if t["role"] == "user"), default=None)
    if index is None:
        raise TuichatError("nothing to compare yet: send a message first")
    return index, session.turns[index]["content"]


def run_ab(session: Any, switcher: Any, variants: list[Variant], cancel: threading.Event,
           on_text: Callable[[int, str], None], interval_s: float = 0.1) -> ABRun:
    """Answer the last question with each variant in turn. `on_text(i, text so far)` at most every
    `interval_s` and once at the end of each answer. Stops early (partial answers) when cancelled."""
    from tuichat.core.prompt import build_prompt

    index, question = last_question(session)
    before, history = switcher.active_path, session.turns[:index]
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
    """Make answer `kept` the answer to the last question (replacing the one shown before) and
    record the pair as a preference: chosen = kept, rejected = the other. Returns the new message id.

    Until history stores sibling answers, the pair is an "ab-pair" event and only the kept answer
    is a message of the conversation."""
    import json

    index, _question = last_question(session)
    chosen = run.answers[kept]
    rejected = run.answers[1 - kept] if len(run.answers) == 2 else None
    history, sid = session.history, session.session_id
    if index + 1 < len(session.turns) and session.last_answer_id is not None:
        history.delete_message(session.last_answer_id)
    del session.turns[index + 1:]
    message_id = history.add_message(sid, "assistant", chosen.text, partial=chosen.finish_reason not in ("eos", "length"))
    session.turns.append({"role": "assistant", "content": chosen.text})
    session.last_answer_id = message_id
    history.record_event(sid, "ab-pair", json.dumps({
        "message_id": message_id, "prompt": run.question,
        "chosen": chosen.text, "chosen_model": chosen.model, "chosen_variant": chosen.variant.label,
        "rejected": rejected.text if rejected else None, "rejected_model": rejected.model if rejected else None,
        "rejected_variant": rejected.variant.label if rejected else None,
    }, ensure_ascii=False))
    from tuichat.adapters.switcher import record_answer_model

    record_answer_model(history, sid, message_id, chosen.model)
    return message_id
