"""ChatSession: the one object every front end drives (the TUI, --plain, ask, eval, tests).

It ties engine, persona, knowledge base and history together. History is written as things happen:
the user's message before generation starts, the answer at its first token and then every half
second while it streams, and a final write that marks it complete or partial (stopped / failed).
No torch or textual import at module level: the UI imports this module.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Iterator

from tuichat.core.prompt import Prompt, build_prompt
from tuichat.errors import PersonaError

if TYPE_CHECKING:
    from tuichat.core.config import Settings
    from tuichat.runtime.base import ModelRuntime
    from tuichat.core.history import History

SAVE_EVERY_S = 0.5


class Reply:
    """Iterate for text deltas; afterwards `.text`, `.stats`, `.retrieval`, `.notices`."""

    def __init__(self, session: "ChatSession", stream: Any, prompt: Prompt, retrieval: Any) -> None:
        self.session = session
        self.stream = stream
        self.prompt = prompt
        self.retrieval = retrieval
        self.notices = list(prompt.notices)
        self.prompt_tokens = prompt.token_count
        self.budget = session.settings.context_budget
        self.message_id: int | None = None
        self.done = False

    @property
    def text(self) -> str:
        return self.stream.text

    @property
    def stats(self):
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
        history, sid = self.session.history, self.session.session_id
        last_save = 0.0
        finished = False
        try:
            for delta in self.stream:
                now = time.monotonic()
                if self.message_id is None:
                    self.message_id = history.add_message(sid, "assistant", self.stream.text, partial=True)
                    last_save = now
                elif now - last_save >= SAVE_EVERY_S:
                    history.update_message(self.message_id, self.stream.text, partial=True)
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
        history, sid = self.session.history, self.session.session_id
        partial = self.stream.stats.finish_reason in ("cancelled", "error", "")
        text = self.stream.text
        if self.message_id is None and text:
            self.message_id = history.add_message(sid, "assistant", text, partial=partial)
        elif self.message_id is not None:
            history.update_message(self.message_id, text, partial)
        if self.message_id is not None:
            self.session.turns.append({"role": "assistant", "content": text})
            self.session.last_answer_id = self.message_id
        self.session.last_reply = self


class ChatSession:
    def __init__(
        self,
        engine: "ModelRuntime",
        history: "History",
        personas: Any,
        knowledge: Any,
        settings: "Settings",
        persona: str | None = None,
    ) -> None:
        self.engine = engine
        self.history = history
        self.personas = personas
        self.knowledge = knowledge
        self.settings = settings
        self.persona = personas.get(persona or settings.persona)
        self.session_id: int = 0
        self.turns: list[dict[str, str]] = []
        self.last_reply: Reply | None = None
        self.last_answer_id: int | None = None
        self._last_user_id: int | None = None
        self.lock = threading.Lock()
        self.new_session()

    # -- sessions ---------------------------------------------------------------------------------
    def new_session(self) -> None:
        self.session_id = self.history.new_session(self.persona.name, self.engine.model_name)
        self.turns = []
        self.last_reply = None
        self._greet()

    def _greet(self) -> None:
        if self.persona.greeting:
            self.history.add_message(self.session_id, "assistant", self.persona.greeting)
            self.turns.append({"role": "assistant", "content": self.persona.greeting})

    def resume(self, session_id: int) -> None:
        info = self.history.session(session_id)
        if info is None:
            raise KeyError(f"no session {session_id}")
        self.session_id = session_id
        self.turns = [
            {"role": m.role, "content": m.content} for m in self.history.messages(session_id) if m.role != "system"
        ]
        try:
            self.persona = self.personas.get(info.persona)
        except PersonaError:
            pass  # the persona file was removed since; keep the current one
        self.last_reply = None

    def set_persona(self, name: str) -> Any:
        persona = self.personas.get(name)
        self.persona = persona
        self.history.record_event(self.session_id, "persona", persona.name)
        self.history.set_persona(self.session_id, persona.name)
        self._greet()
        return persona

    def _current_persona(self) -> Any:
        """Re-read the persona each turn, so an edited persona file applies from the next answer."""
        try:
            self.persona = self.personas.get(self.persona.name)
        except PersonaError:
            pass  # deleted or broken on disk right now: keep the last good version
        return self.persona

    # -- answering --------------------------------------------------------------------------------
    def send(self, text: str, cancel: threading.Event | None = None) -> Reply:
        self._last_user_id = self.history.add_message(self.session_id, "user", text)
        return self._respond(text, cancel)

    def regenerate(self, cancel: threading.Event | None = None) -> Reply:
        """Answer the last user message again, replacing the last answer."""
        last_user = max((i for i, m in enumerate(self.turns) if m["role"] == "user"), default=None)
        if last_user is None:
            raise ValueError("nothing to regenerate yet")
        text = self.turns[last_user]["content"]
        if last_user + 1 < len(self.turns) and self.last_answer_id is not None:
            self.history.delete_message(self.last_answer_id)
            self.last_answer_id = None
        del self.turns[last_user:]
        return self._respond(text, cancel)

    def _respond(self, text: str, cancel: threading.Event | None) -> Reply:
        persona = self._current_persona()
        retrieval = None
        if self.knowledge is not None and text.strip():
            retrieval = self.knowledge.retrieve(text)
        refs = list(retrieval.references) if retrieval is not None else []  # only hits at or above the gate
        prompt = build_prompt(
            self.engine, persona.system_messages(), self.turns, text, refs, self.settings.context_budget
        )
        self.turns.append({"role": "user", "content": text})
        params = self.settings.generation_params(getattr(persona, "generation", None))
        stream = self.engine.stream(prompt.messages, params, cancel, prompt_ids=prompt.token_ids)
        return Reply(self, stream, prompt, retrieval)

    def context_tokens(self) -> int:
        """Tokens the next prompt would use before the new message (for the status bar)."""
        prompt = build_prompt(self.engine, self._current_persona().system_messages(), self.turns, "",
                              None, self.settings.context_budget)
        return prompt.token_count
