"""Chats as training data, in the forms `python -m finetune` reads.

- `sharegpt`: one row per session, `{"messages": [system, user, assistant, …]}` — the branch that was
  on screen, persona system prompt first; finetune trains on every assistant turn.
- `alpaca`: one row per exchange of that branch, `{"instruction", "input", "output", "system"}`.
- `dpo`: preference pairs from the versions the user made, `{"prompt": [messages], "chosen":
  [answer], "rejected": [answer]}` (TRL's conversational form): where an answer was regenerated,
  the version on screen is chosen and each other version rejected; where a user message was edited,
  the answer to the kept version is chosen over the answers to the discarded versions.
A persona's greeting before the first question is not an answer to anything and is left out.
`only_kept` leaves out stopped (partial) answers. Files are written atomically.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from tuichat.core.conversation import Conversation, Turn
from tuichat.errors import HistoryError

FORMATS = ("sharegpt", "alpaca", "dpo")
SystemPrompt = Callable[[str], str | None]  # persona name -> its system prompt (None: unknown)


def _exchanges(branch: list[Turn], only_kept: bool) -> Iterator[tuple[Turn, Turn]]:
    """(user, answer) pairs along a branch."""
    for user, answer in zip(branch, branch[1:]):
        if user.role == "user" and answer.role == "assistant" and answer.content.strip():
            if not (only_kept and answer.partial):
                yield user, answer


def _system(prompt: str | None) -> list[dict[str, str]]:
    return [{"role": "system", "content": prompt}] if prompt else []


def sharegpt_rows(conversation: Conversation, system: str | None, only_kept: bool) -> list[dict]:
    messages = _system(system)
    for user, answer in _exchanges(conversation.branch(), only_kept):
        messages += [user.as_message(), answer.as_message()]
    return [{"messages": messages}] if len(messages) > len(_system(system)) else []


def alpaca_rows(conversation: Conversation, system: str | None, only_kept: bool) -> list[dict]:
    return [{"instruction": user.content, "input": "", "output": answer.content, **({"system": system} if system else {})}
            for user, answer in _exchanges(conversation.branch(), only_kept)]


def _shown_answer(conversation: Conversation, user: Turn, only_kept: bool) -> Turn | None:
    chosen = conversation.chosen_child(user.id)
    answer = conversation.get(chosen) if chosen is not None else None
    if answer is None or answer.role != "assistant" or not answer.content.strip() or (only_kept and answer.partial):
        return None
    return answer


def dpo_rows(conversation: Conversation, system: str | None, only_kept: bool) -> list[dict]:
    rows: list[dict] = []
    branch = conversation.branch()
    for index, turn in enumerate(branch):
        if turn.role != "user":
            continue
        prompt = _system(system) + [t.as_message() for t in branch[: index + 1] if t.role != "system"
                                    and not (t.role == "assistant" and t.parent_id is None)]
        chosen = _shown_answer(conversation, turn, only_kept)
        if chosen is None:
            continue
        rejected = [a for a in conversation.children(turn.id) if a.id != chosen.id and a.role == "assistant"
                    and a.content.strip() and not (only_kept and a.partial)]
        for discarded in conversation.versions(turn.id):
            if discarded.id != turn.id:
                answer = _shown_answer(conversation, discarded, only_kept)
                if answer is not None:
                    rejected.append(answer)
        for other in rejected:
            if other.content != chosen.content:
                rows.append({"prompt": prompt, "chosen": [chosen.as_message()], "rejected": [other.as_message()]})
    return rows


ROWS = {"sharegpt": sharegpt_rows, "alpaca": alpaca_rows, "dpo": dpo_rows}


def write_jsonl(rows: list[dict], output: Path) -> None:
    write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), output)


def write_text(text: str, output: Path) -> None:
    """Write atomically (a temporary file renamed into place): a failed export leaves nothing behind."""
    output = Path(output).expanduser()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    except OSError as exc:
        raise HistoryError(f"cannot write {output}: {exc.strerror or exc} (choose a folder you can write to)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HistoryError(f"cannot write {output}: {exc.strerror or exc}") from None
