"""The conversation of one session as a tree of turns, and the branch on screen.

Every message is a `Turn` whose `parent_id` is the message it follows. Regenerating an answer adds a
sibling of that answer; editing a user message adds a sibling of that message; nothing is removed.
Among siblings one is *chosen* (the version on screen); following the chosen child from the root
gives the branch on screen, which is what the pane shows and what the next prompt is built from.

Pure data: no SQLite, no model. `ChatSession` owns the one `Conversation` of the open session and
History persists it (`parent_id` and `chosen` columns).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass
class Turn:
    id: int
    role: str  # "system", "user" or "assistant"
    content: str
    partial: bool = False  # an answer that was stopped or failed before it ended
    parent_id: int | None = None  # None: the first message of the session (or a version of it)
    created: float = 0.0
    model: str = ""  # for answers: the model (and adapter) that wrote it

    def as_message(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


class Conversation:
    def __init__(self, turns: Iterable[Turn] = (), chosen: Iterable[int] = ()) -> None:
        self._turns: dict[int, Turn] = {}
        self._children: dict[int | None, list[int]] = {}
        self._chosen: dict[int | None, int] = {}
        picked = set(chosen)
        settled: set[int | None] = set()  # parents whose chosen child is marked (else: the newest)
        for turn in sorted(turns, key=lambda t: t.id):
            mark = turn.id in picked
            self._insert(turn, select=mark or turn.parent_id not in settled)
            if mark:
                settled.add(turn.parent_id)

    def _insert(self, turn: Turn, select: bool) -> None:
        if turn.parent_id is not None and turn.parent_id not in self._turns:
            raise KeyError(f"turn {turn.id} follows unknown turn {turn.parent_id}")
        self._turns[turn.id] = turn
        self._children.setdefault(turn.parent_id, []).append(turn.id)
        if select:
            self._chosen[turn.parent_id] = turn.id

    # -- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._turns)

    def __contains__(self, turn_id: object) -> bool:
        return turn_id in self._turns

    def get(self, turn_id: int) -> Turn:
        try:
            return self._turns[turn_id]
        except KeyError:
            raise KeyError(f"no message {turn_id} in this conversation") from None

    def children(self, turn_id: int | None) -> list[Turn]:
        return [self._turns[i] for i in self._children.get(turn_id, [])]

    def chosen_child(self, turn_id: int | None) -> int | None:
        """The version on screen among the messages that follow `turn_id` (None: the first ones)."""
        return self._chosen.get(turn_id)

    def versions(self, turn_id: int) -> list[Turn]:
        """The turn and its siblings (the versions of that message), oldest first."""
        return self.children(self.get(turn_id).parent_id)

    def branch(self) -> list[Turn]:
        """The branch on screen: from the first message, following the chosen version each time."""
        out: list[Turn] = []
        parent: int | None = None
        while parent in self._chosen:
            parent = self._chosen[parent]
            out.append(self._turns[parent])
        return out

    def path_to(self, turn_id: int) -> list[Turn]:
        """The turns from the first message down to `turn_id` (included)."""
        out = [self.get(turn_id)]
        while out[-1].parent_id is not None:
            out.append(self._turns[out[-1].parent_id])
        return out[::-1]

    def leaf(self) -> Turn | None:
        branch = self.branch()
        return branch[-1] if branch else None

    # -- changing -----------------------------------------------------------------------------
    def add(self, turn: Turn) -> Turn:
        """Add a turn and make it the chosen version among its siblings."""
        if turn.id in self._turns:
            raise KeyError(f"message {turn.id} is already in the conversation")
        self._insert(turn, select=True)
        return turn

    def update(self, turn_id: int, content: str, partial: bool) -> None:
        turn = self.get(turn_id)
        turn.content, turn.partial = content, partial

    def select(self, turn_id: int) -> None:
        """Show `turn_id` and every turn above it (each becomes the chosen version of its siblings)."""
        for turn in self.path_to(turn_id):
            self._chosen[turn.parent_id] = turn.id
