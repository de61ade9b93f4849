"""The typed seams between the parts: what the UI sees of the chat core and of the knowledge base.

The third seam, what the core sees of a model runtime, is `tuichat.runtime.base.ModelRuntime`.
The UI (app, screens, workers, widgets) is typed against these Protocols, never against the classes
that implement them (ChatSession, KnowledgeBase, History), so it needs none of their imports and a
test can drive it with anything that has this shape. Light: only dataclasses and typing.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tuichat.core.config import Settings
    from tuichat.core.conversation import Turn
    from tuichat.core.history_search import SearchHit
    from tuichat.core.prompt import ContextBreakdown, Prompt
    from tuichat.core.reply import Reply
    from tuichat.knowledge.results import KBStatus, Retrieval, SyncReport
    from tuichat.runtime.base import ModelRuntime


@runtime_checkable
class Retriever(Protocol):
    """What the chat core needs from a knowledge base."""

    def retrieve(self, query: str) -> "Retrieval": ...


class KnowledgeView(Retriever, Protocol):
    """What the knowledge panel needs besides retrieval: the folder's state and a sync."""

    folder: Path

    def status(self) -> "KBStatus": ...

    def needs_sync(self) -> bool: ...

    def sync(self, progress: Callable[..., Any] | None = None) -> "SyncReport": ...


class HistoryView(Protocol):
    """The stored sessions, as the sessions and search screens use them."""

    def sessions(self) -> list[Any]: ...

    def session(self, session_id: int) -> Any: ...

    def rename_session(self, session_id: int, title: str) -> None: ...

    def delete_session(self, session_id: int) -> None: ...

    def export_markdown(self, session_id: int) -> str: ...

    def search(self, query: str, limit: int = 50) -> list["SearchHit"]: ...


class PersonaView(Protocol):
    name: str
    title: str
    greeting: str


@runtime_checkable
class ChatCore(Protocol):
    """What the UI sees of the chat core (implemented by `tuichat.core.session.ChatSession`)."""

    engine: "ModelRuntime"
    history: HistoryView
    personas: Any  # a PersonaLibrary: get, all, errors
    knowledge: KnowledgeView | None
    settings: "Settings"
    persona: PersonaView
    session_id: int
    last_reply: "Reply | None"

    # sessions
    def new_session(self) -> None: ...

    def warm(self, draft: str = "") -> None: ...

    def resume(self, session_id: int) -> list[str]: ...

    def open_at(self, message_id: int) -> list[str]: ...

    def set_persona(self, name: str) -> PersonaView: ...

    # the conversation (the core is its only owner; the UI reads it, never copies it)
    def branch(self) -> list["Turn"]: ...

    def versions(self, turn_id: int) -> list["Turn"]: ...

    def select_version(self, turn_id: int) -> None: ...

    def flip(self, turn_id: int, step: int) -> "Turn": ...

    def add_user_message(self, text: str) -> "Turn": ...

    def edit(self, turn_id: int, text: str) -> "Turn": ...

    def add_answer(self, user_turn_id: int, text: str, model: str = "", partial: bool = False) -> "Turn": ...

    # answering (called from worker threads)
    def answer(self, user_turn_id: int, cancel: threading.Event | None = None) -> "Reply": ...

    def regenerate(self, cancel: threading.Event | None = None) -> "Reply": ...

    def next_prompt(self) -> "Prompt": ...

    def context_tokens(self) -> int: ...

    def context_breakdown(self) -> "ContextBreakdown": ...
