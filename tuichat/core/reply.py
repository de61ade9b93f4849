"""Reply: one answer being written. Iterate it for text deltas; it reports back through its session.

A Reply never changes the conversation itself. While it streams it calls its recorder (the
ChatSession that made it) at the first token, then at most every SAVE_EVERY_S, and once at the end
with the final text and whether it is partial (stopped or failed); the session stores the answer in
history and in the conversation of the session it was asked in.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterator, Protocol

if TYPE_CHECKING:
    from tuichat.core.prompt import Prompt
    from tuichat.runtime.base import AnswerStats, Stream

SAVE_EVERY_S = 0.5


class AnswerRecorder(Protocol):
    def record_answer(self, reply: "Reply", partial: bool, final: bool) -> None: ...


class Reply:
    """Iterate for text deltas; afterwards `.text`, `.stats`, `.retrieval`, `.notices`, `.message_id`."""

    def __init__(self, recorder: AnswerRecorder | None, stream: "Stream", prompt: "Prompt", retrieval: Any,
                 session_id: int, parent_id: int | None, model: str, budget: int,
                 count_is_estimate: bool = False) -> None:
        self._recorder = recorder  # None: an answer that is not kept (evaluations)
        self.stream = stream
        self.prompt = prompt
        self.retrieval = retrieval
        self.notices = list(prompt.notices) + list(getattr(stream, "notices", []))  # e.g. an ignored setting
        self.prompt_tokens = prompt.token_count
        self.budget = budget
        self.count_is_estimate = count_is_estimate  # the runtime could only estimate token counts
        self.session_id = session_id  # where the answer belongs, whatever the session shows later
        self.parent_id = parent_id  # the user message it answers
        self.model = model
        self.message_id: int | None = None  # set by the recorder once the answer is stored
        self.done = False

    @property
    def text(self) -> str:
        return self.stream.text

    @property
    def stats(self) -> "AnswerStats":
        return self.stream.stats

    @property
    def sources(self) -> list[str]:
        """The documents whose passages were put into the prompt (in rank order, no repeats)."""
        if not self.retrieval or not self.retrieval.passed_gate:
            return []
        seen: list[str] = []
        for hit in list(self.retrieval.references)[: self.prompt.references_used]:
            if hit.source not in seen:
                seen.append(hit.source)
        return seen

    def cancel(self) -> None:
        self.stream.cancel()

    def __iter__(self) -> Iterator[str]:
        if self.done:
            return
        last_save = 0.0
        finished = False
        try:
            for delta in self.stream:
                now = time.monotonic()
                if self.message_id is None or now - last_save >= SAVE_EVERY_S:
                    self._report(partial=True, final=False)
                    last_save = now
                yield delta
            finished = True
        finally:
            # Also runs when the consumer stops iterating (Ctrl+C) or generation raised.
            if not finished:
                self.stream.cancel()
                self.stream.finished.wait(timeout=30)
            self._finish()

    def wait(self) -> "Reply":
        for _ in self:
            pass
        return self

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self._report(partial=self.stream.stats.finish_reason in ("cancelled", "error", ""), final=True)

    def _report(self, partial: bool, final: bool) -> None:
        if self._recorder is not None:
            self._recorder.record_answer(self, partial, final)
