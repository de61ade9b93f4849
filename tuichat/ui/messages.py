"""Messages that workers post to the chat screen: past-tense facts, never commands.

Thread workers only ever `post_message` one of these (thread-safe); the screen's handlers are the
only code that touches widgets. `TokenStreamed` carries the whole answer so far, so when tokens
arrive faster than the screen repaints, queued ones collapse into the newest (`can_replace`)
without losing text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from tuichat.core.seams import ChatCore


@dataclass
class LoadProgressed(Message):
    """The model loader reported progress (e.g. the first-time GGUF conversion)."""

    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed)


@dataclass
class SessionLoaded(Message):
    """The loader returned a ready chat core (a `tuichat.core.session.ChatSession`)."""

    session: "ChatCore"


@dataclass
class SessionLoadFailed(Message):
    error: str


@dataclass
class AnswerStarted(Message):
    """The user message is in history and generation has begun."""

    answer_no: int
    retrieval: Any = None


@dataclass
class TokenStreamed(Message):
    """The answer grew; `text` is everything generated so far."""

    answer_no: int
    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TokenStreamed) and message.answer_no == self.answer_no


@dataclass
class AnswerFinished(Message):
    """The answer ended: finished, hit the length limit, or was stopped (`stats.finish_reason`)."""

    answer_no: int
    text: str
    stats: Any = None
    notices: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    message_id: int | None = None  # the stored answer (None: stopped before its first token)


@dataclass
class AnswerFailed(Message):
    """Generation raised; `text` is what had streamed before the error (kept as a partial answer)."""

    answer_no: int
    error: str
    text: str = ""
    message_id: int | None = None


@dataclass
class ContextCounted(Message):
    """How many tokens the next prompt starts with (persona + kept history)."""

    tokens: int
    budget: int


@dataclass
class ContextBrokenDown(Message):
    """The next prompt by part (`tuichat.core.prompt.ContextBreakdown.lines()`), asked for with F4."""

    lines: list[str]


@dataclass
class KnowledgeStatusRead(Message):
    status: Any


@dataclass
class KnowledgeSyncProgressed(Message):
    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, KnowledgeSyncProgressed)


@dataclass
class KnowledgeSyncFailed(Message):
    error: str
