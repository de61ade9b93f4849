"""The work the chat screen runs in thread workers. Each function talks to the chat core and
reports only by posting messages (`post` is the screen's thread-safe `post_message`); none of them
touches a widget, so they are testable without a terminal."""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from tuichat.errors import TuichatError
from tuichat.ui.messages import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    ContextBrokenDown,
    ContextCounted,
    KnowledgeStatusRead,
    KnowledgeSyncFailed,
    KnowledgeSyncProgressed,
    LoadProgressed,
    SessionLoaded,
    SessionLoadFailed,
    TokenStreamed,
)

if TYPE_CHECKING:
    from tuichat.core.seams import ChatCore, KnowledgeView

Post = Callable[[Any], Any]
# Screen updates while streaming. Rendering shares the GIL with the decode loop, so fewer, bigger
# updates leave more of the CPU to the model; 10 a second still reads as streaming (~2 tokens per
# update at SmolLM2's ~20 tok/s). Measure with benchmarks/ui_stream.py --interval.
STREAM_INTERVAL_S = 0.1


def describe(error: BaseException) -> str:
    """One line for a notification: our own errors are already written for users."""
    if isinstance(error, TuichatError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def load_session(loader: Callable[[Callable[[str], None]], "ChatCore"], post: Post) -> None:
    try:
        session = loader(lambda text: post(LoadProgressed(str(text))))
    except BaseException as exc:  # the app must survive a failed load and say why
        post(SessionLoadFailed(describe(exc)))
        return
    post(SessionLoaded(session))


def stream_answer(session: "ChatCore", answer_no: int, user_turn_id: int, cancel: threading.Event, post: Post) -> None:
    """Answer the stored user message `user_turn_id` (a new one, or again: regenerate) and post the
    answer as it grows, at most every STREAM_INTERVAL_S: the screen repaints at a steady rate
    however fast tokens come, so typing and scrolling stay smooth (AnswerFinished always carries
    the whole text)."""
    streamed = ""
    last_post = 0.0
    reply = None
    try:
        reply = session.answer(user_turn_id, cancel=cancel)
        post(AnswerStarted(answer_no, getattr(reply, "retrieval", None)))
        for delta in reply:
            streamed += delta
            now = time.monotonic()
            if now - last_post >= STREAM_INTERVAL_S:
                post(TokenStreamed(answer_no, streamed))
                last_post = now
    except BaseException as exc:
        post(AnswerFailed(answer_no, describe(exc), streamed, reply.message_id if reply is not None else None))
        return
    post(AnswerFinished(answer_no, reply.text, reply.stats, list(reply.notices), reply.prompt_tokens, reply.message_id))


def count_context(session: "ChatCore", post: Post) -> None:
    """Tokens the next prompt starts with (persona + the turns that fit), for the status bar."""
    try:
        tokens = session.context_tokens()
    except BaseException:  # a status-bar number is not worth a notification
        return
    post(ContextCounted(tokens, session.settings.context_budget))


def break_down_context(session: "ChatCore", post: Post) -> None:
    try:
        post(ContextBrokenDown(session.context_breakdown().lines()))
    except BaseException as exc:
        post(ContextBrokenDown([f"Could not count the context: {describe(exc)}"]))


def read_knowledge(knowledge: "KnowledgeView", post: Post) -> None:
    try:
        post(KnowledgeStatusRead(knowledge.status()))
    except BaseException as exc:
        post(KnowledgeSyncFailed(describe(exc)))


def sync_knowledge(knowledge: "KnowledgeView", post: Post, report: bool = False) -> None:
    """Index what changed in the knowledge folder (a cheap stat check first) and post the new
    status; with `report`, post the status even when nothing changed."""
    try:
        if knowledge.needs_sync():

            def progress(*parts: Any) -> None:
                post(KnowledgeSyncProgressed(_progress_text(parts)))

            knowledge.sync(progress)
        elif not report:
            return
        post(KnowledgeStatusRead(knowledge.status()))
    except BaseException as exc:
        post(KnowledgeSyncFailed(describe(exc)))


def _progress_text(parts: tuple) -> str:
    """The knowledge base reports (path, done, total); show it as 'done/total path'."""
    if len(parts) == 3:
        path, done, total = parts
        return f"{done}/{total} {path}"
    return " ".join(str(p) for p in parts)
