"""Prompt assembly: what the model sees for the next answer, inside a token budget.

prompt = pinned persona messages (system prompt + example exchanges; never dropped)
       + as many of the most recent *whole* turns as fit (oldest dropped first)
       + the new user message, carrying retrieved references when there are any.
References ride on the new user message rather than the system prompt, so the start of the prompt
stays identical from turn to turn and the engine can reuse its KV cache.
When the budget is tight, references are cut first, then an over-long user message (keeping its end),
each with a visible notice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

CUT_MARK = "[…earlier part of this message cut to fit the context…]\n"


class TokenCounter(Protocol):
    def count_tokens(self, messages: list[dict[str, str]]) -> int: ...


@dataclass
class Prompt:
    messages: list[dict[str, str]]
    token_count: int
    dropped_turns: int = 0
    references_used: int = 0
    notices: list[str] = field(default_factory=list)
    token_ids: list[int] | None = None  # the prompt's tokens, so the engine need not tokenise it again


@dataclass
class ContextBreakdown:
    """The next prompt by part, before the new message: persona (system prompt + examples, never
    dropped), the history turns that fit and those left out, and the references the last answer got
    (references are retrieved per message, so the next ones are known only once it is sent)."""

    persona: str
    persona_tokens: int
    history_tokens: int
    turns_kept: int
    turns_dropped: int
    total_tokens: int
    budget: int
    last_references: int = 0
    last_sources: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"Persona '{self.persona}': {self.persona_tokens:,} tokens (always kept)",
            f"History: {self.turns_kept} turn(s) kept, {self.history_tokens:,} tokens; {self.turns_dropped} earliest left out",
            f"References: the last answer used {self.last_references}"
            + (f" ({', '.join(self.last_sources)})" if self.last_sources else "")
            + "; the next ones are retrieved when you send",
            f"Total: {self.total_tokens:,} of {self.budget:,} tokens before your message",
        ]


def split_turns(history: Sequence[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Group messages into turns that start at a user message (a greeting before it is its own turn)."""
    turns: list[list[dict[str, str]]] = []
    for message in history:
        if message["role"] == "user" or not turns:
            turns.append([])
        turns[-1].append(dict(message))
    return turns


def _user_message(user_text: str, references: str) -> dict[str, str]:
    return {"role": "user", "content": f"{user_text}\n\n{references}" if references else user_text}


def build_prompt(
    engine: TokenCounter,
    pinned: Sequence[dict[str, str]],
    history: Sequence[dict[str, str]],
    user_text: str,
    references: Sequence[Any] | None = None,
    budget: int = 1024,
) -> Prompt:
    notices: list[str] = []
    pinned = [dict(m) for m in pinned]
    refs = list(references or [])
    count = engine.count_tokens

    # 1. The new message and its references must fit beside the pinned messages on their own.
    user = _user_message(user_text, _reference_text(refs))
    while refs and count(pinned + [user]) > budget:
        refs.pop()  # drop the lowest-ranked reference first
        user = _user_message(user_text, _reference_text(refs))
    if references and len(refs) < len(references):
        notices.append(f"{len(references) - len(refs)} of {len(references)} references left out to fit the context budget ({budget} tokens).")
    if count(pinned + [user]) > budget:
        user = _cut_user_message(engine, pinned, user_text, budget)
        notices.append(f"Your message was too long for the context budget ({budget} tokens); only its end was kept.")

    # 2. Add the most recent whole turns that still fit: binary search on how many to keep.
    turns = split_turns(history)

    def with_last(k: int) -> list[dict[str, str]]:
        kept = [m for turn in turns[len(turns) - k :] for m in turn] if k else []
        return pinned + kept + [user]

    lo, hi = 0, len(turns)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(with_last(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    messages = with_last(lo)
    dropped = len(turns) - lo
    if dropped:
        notices.append(f"{dropped} earliest turn(s) left out of the context ({budget}-token budget).")
    ids = engine.prompt_ids(messages) if hasattr(engine, "prompt_ids") else None
    return Prompt(messages, len(ids) if ids is not None else count(messages), dropped, len(refs), notices, ids)


PROBES = ("Hi", "你好")  # two continuations that part at their first token


def shared_prefix_ids(engine: Any, pinned: Sequence[dict[str, str]], history: Sequence[dict[str, str]],
                      budget: int, draft: str = "") -> list[int]:
    """The tokens every next prompt starts with: the prompts for two different new messages, up to
    where they part. The new message (references ride after it) comes last, so this is the
    persona, the turns that fit and the template's opening of the user's turn, plus the tokens of
    `draft` (what the user has typed so far) that more typing will not change. Empty for a
    runtime that sends messages, not token ids."""
    first, second = (build_prompt(engine, pinned, history, draft + probe, None, budget).token_ids for probe in PROBES)
    if first is None or second is None:
        return []
    common = 0
    for a, b in zip(first, second):
        if a != b:
            break
        common += 1
    return first[:common]


def _reference_text(refs: Sequence[Any]) -> str:
    if not refs:
        return ""
    from tuichat.knowledge.prompting import reference_block

    return reference_block(list(refs))


def _cut_user_message(engine: TokenCounter, pinned: list[dict[str, str]], text: str, budget: int) -> dict[str, str]:
    """Keep the longest tail of `text` that fits (the end of a pasted text usually holds the question)."""
    lo, hi = 0, len(text)
    while lo < hi:  # smallest start index whose tail fits
        mid = (lo + hi) // 2
        if engine.count_tokens(pinned + [{"role": "user", "content": CUT_MARK + text[mid:]}]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return {"role": "user", "content": CUT_MARK + text[lo:]}
