"""ChatSession: the one object every front end drives (the TUI, --plain, ask, the evals, tests).

It ties model runtime, persona, knowledge base and history together, and it is the single owner of
the open conversation: `self.conversation` (a tree of turns, `tuichat.core.conversation`) is the
only copy in memory; front ends read `branch()` and never keep their own list. History is written
as things happen: the user's message before generation starts, the answer at its first token and
then every half second while it streams (reported back by the Reply), and a final write that marks
it complete or partial. Regenerating or editing adds a version; nothing is ever deleted.
No torch or textual import at module level: the UI imports this module.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from tuichat.core.conversation import Conversation, Turn
from tuichat.core.prompt import ContextBreakdown, Prompt, build_prompt, shared_prefix_ids, split_turns
from tuichat.core.reply import Reply
from tuichat.errors import HistoryError, PersonaError, TuichatError
from tuichat.personas.greetings import greeting_for, user_language
from tuichat.runtime.base import PrefixWarming

if TYPE_CHECKING:
    from tuichat.core.config import Settings
    from tuichat.core.history import History
    from tuichat.core.seams import Retriever
    from tuichat.runtime.base import ModelRuntime


class ChatSession:
    def __init__(
        self,
        engine: "ModelRuntime",
        history: "History",
        personas: Any,
        knowledge: "Retriever | None",
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
        self.conversation = Conversation()
        self.last_reply: Reply | None = None
        self.new_session()

    # -- sessions ---------------------------------------------------------------------------------
    def new_session(self) -> None:
        self.session_id = self.history.new_session(self.persona.name, self.engine.model_name)
        self.conversation = Conversation()
        self.last_reply = None
        self._greet()
        self.warm()

    def _greet(self) -> None:
        greeting = greeting_for(self.persona, user_language())
        if greeting:
            self._add("assistant", greeting, self._leaf_id())

    def resume(self, session_id: int) -> list[str]:
        """Open a stored session (the branch that was on screen). Returns notices for the user."""
        info = self.history.session(session_id)
        if info is None:
            raise HistoryError(f"there is no session {session_id} (deleted?); `tuichat history list` shows them")
        notices: list[str] = []
        try:
            self.persona = self.personas.get(info.persona)
        except PersonaError:
            notices.append(f"This session's persona '{info.persona}' is gone; answering as '{self.persona.name}'.")
        self.session_id = session_id
        self.conversation = self.history.conversation(session_id)
        self.last_reply = None
        self.warm()
        return notices

    def open_at(self, message_id: int) -> list[str]:
        """Resume the session holding `message_id` with that message on screen (a search hit)."""
        found = self.history.message(message_id)
        if found is None:
            raise HistoryError(f"there is no message {message_id} (deleted?); search again")
        notices = self.resume(found[0])
        self.select_version(message_id)
        return notices

    def set_persona(self, name: str) -> Any:
        persona = self.personas.get(name)
        self.persona = persona
        self.history.record_event(self.session_id, "persona", persona.name)
        self.history.set_persona(self.session_id, persona.name)
        self._greet()
        self.warm()
        return persona

    def _current_persona(self) -> Any:
        """Re-read the persona each turn, so an edited persona file applies from the next answer."""
        try:
            self.persona = self.personas.get(self.persona.name)
        except PersonaError:
            pass  # deleted or broken on disk right now: keep the last good version
        return self.persona

    def warm(self, draft: str = "") -> None:
        """Prefill, in the background, the start that every next prompt shares (persona, greeting,
        the turns on screen, and the message typed so far, `draft`), so the next answer prefills
        only the rest. Returns at once; an answer sent meanwhile waits for it. Runtimes without a
        kept KV cache (servers) skip it."""
        if not isinstance(self.engine, PrefixWarming):
            return
        engine, budget = self.engine, self.settings.context_budget
        pinned = self._current_persona().system_messages()
        earlier = [t.as_message() for t in self.branch()]
        engine.warm(lambda: shared_prefix_ids(engine, pinned, earlier, budget, draft))

    # -- the conversation -------------------------------------------------------------------------
    def branch(self) -> list[Turn]:
        """The conversation on screen, oldest first (what the next prompt is built from)."""
        return [t for t in self.conversation.branch() if t.role != "system"]

    def versions(self, turn_id: int) -> list[Turn]:
        """The versions of a message (itself and its siblings), oldest first."""
        return self.conversation.versions(turn_id)

    def select_version(self, turn_id: int) -> None:
        """Put `turn_id` (and the path above it) on screen; remembered in history."""
        changed = [t.id for t in self.conversation.path_to(turn_id)
                   if self.conversation.chosen_child(t.parent_id) != t.id]
        self.conversation.select(turn_id)
        if changed:
            self.history.choose(changed)

    def flip(self, turn_id: int, step: int) -> Turn:
        """Show the previous (step -1) or next (+1) version of a message; returns the one shown."""
        versions = self.versions(turn_id)
        index = [v.id for v in versions].index(turn_id)
        target = versions[max(0, min(len(versions) - 1, index + step))]
        self.select_version(target.id)
        return target

    def add_user_message(self, text: str) -> Turn:
        """Append a user message to the branch on screen (stored at once)."""
        return self._add("user", text, self._leaf_id())

    def edit(self, turn_id: int, text: str) -> Turn:
        """A new version of a user message: the conversation branches there, the old branch is kept."""
        old = self.conversation.get(turn_id)
        if old.role != "user":
            raise TuichatError("only your own messages can be edited; regenerate an answer instead")
        self.select_version(turn_id)
        return self._add("user", text, parent_id=old.parent_id)

    def add_answer(self, user_turn_id: int, text: str, model: str = "", partial: bool = False) -> Turn:
        """Store an answer written elsewhere (e.g. by another adapter) as a version under a message."""
        self.select_version(user_turn_id)
        return self._add("assistant", text, parent_id=user_turn_id, model=model or self.engine.model_name,
                         partial=partial)

    def _add(self, role: str, text: str, parent_id: int | None, model: str = "", partial: bool = False) -> Turn:
        now = time.time()
        turn_id = self.history.add_message(self.session_id, role, text, partial, parent_id, model, now)
        turn = self.conversation.add(Turn(turn_id, role, text, partial, parent_id, now, model))
        self.conversation.select(turn.id)
        return turn

    def _leaf_id(self) -> int | None:
        leaf = self.conversation.leaf()
        return leaf.id if leaf is not None else None

    # -- answering --------------------------------------------------------------------------------
    def send(self, text: str, cancel: threading.Event | None = None) -> Reply:
        return self.answer(self.add_user_message(text).id, cancel)

    def regenerate(self, cancel: threading.Event | None = None) -> Reply:
        """Answer the last user message on screen again; the earlier answers stay as versions."""
        last_user = next((t for t in reversed(self.branch()) if t.role == "user"), None)
        if last_user is None:
            raise TuichatError("nothing to regenerate yet: send a message first")
        return self.answer(last_user.id, cancel)

    def answer(self, user_turn_id: int, cancel: threading.Event | None = None) -> Reply:
        """Answer a user message from the conversation above it; the answer becomes its newest version."""
        self.select_version(user_turn_id)
        path = self.conversation.path_to(user_turn_id)
        earlier = [t.as_message() for t in path[:-1] if t.role != "system"]
        return self._reply(earlier, path[-1].content, cancel, parent_id=user_turn_id)

    def answer_alone(self, text: str, cancel: threading.Event | None = None, persona: bool = True,
                     knowledge: bool = True) -> Reply:
        """Answer `text` with no conversation before it, storing nothing (the evaluations' mode):
        the same prompt assembly, context budget, references and sampling as a chat. `persona` /
        `knowledge` False leave out the persona's messages / the references (an evaluation's
        baseline arm); the persona's sampling overrides apply either way."""
        return self._reply([], text, cancel, parent_id=None, with_persona=persona, with_knowledge=knowledge)

    def _reply(self, earlier: list[dict[str, str]], text: str, cancel: threading.Event | None,
               parent_id: int | None, with_persona: bool = True, with_knowledge: bool = True) -> Reply:
        """Start an answer; it is kept (reported back here) when it answers a stored message."""
        persona = self._current_persona()
        retrieval = None
        if self.knowledge is not None and with_knowledge and text.strip():
            retrieval = self.knowledge.retrieve(text)
        refs = list(retrieval.references) if retrieval is not None else []  # only hits at or above the gate
        pinned = persona.system_messages() if with_persona else []
        prompt = build_prompt(self.engine, pinned, earlier, text, refs, self.settings.context_budget)
        params = self.settings.generation_params(getattr(persona, "generation", None))
        stream = self.engine.stream(prompt.messages, params, cancel, prompt_ids=prompt.token_ids)
        return Reply(self if parent_id is not None else None, stream, prompt, retrieval, self.session_id, parent_id,
                     self.engine.model_name, self.settings.context_budget,
                     getattr(self.engine, "count_is_estimate", False))

    def record_answer(self, reply: Reply, partial: bool, final: bool) -> None:
        """Called by a Reply as it streams: store the answer under the message it answers, in the
        session it was asked in (which need not be the one on screen any more)."""
        mine = reply.session_id == self.session_id
        if reply.message_id is None:
            if not reply.text and final:
                if mine:
                    self.last_reply = reply
                return  # nothing was written: store no empty answer
            now = time.time()
            reply.message_id = self.history.add_message(reply.session_id, "assistant", reply.text, partial,
                                                        reply.parent_id, reply.model, now)
            if mine and reply.parent_id in self.conversation:
                self.conversation.add(Turn(reply.message_id, "assistant", reply.text, partial, reply.parent_id,
                                           now, reply.model))
                self.conversation.select(reply.message_id)
        else:
            self.history.update_message(reply.message_id, reply.text, partial)
            if mine and reply.message_id in self.conversation:
                self.conversation.update(reply.message_id, reply.text, partial)
        if final and mine:
            self.last_reply = reply
            self.warm()

    # -- context ----------------------------------------------------------------------------------
    def next_prompt(self) -> Prompt:
        """The prompt the next message would start from (persona + the turns that fit)."""
        earlier = [t.as_message() for t in self.branch()]
        return build_prompt(self.engine, self._current_persona().system_messages(), earlier, "", None,
                            self.settings.context_budget)

    def context_breakdown(self) -> "ContextBreakdown":
        """What the next prompt holds, by part (the status bar's figure, opened on demand)."""
        prompt = self.next_prompt()
        pinned = self._current_persona().system_messages()
        persona_tokens = self.engine.count_tokens(pinned + [{"role": "user", "content": ""}])
        turns = len(split_turns([t.as_message() for t in self.branch()]))
        last = self.last_reply
        return ContextBreakdown(
            persona=self.persona.name, persona_tokens=persona_tokens,
            history_tokens=max(0, prompt.token_count - persona_tokens), turns_kept=turns - prompt.dropped_turns,
            turns_dropped=prompt.dropped_turns, total_tokens=prompt.token_count, budget=self.settings.context_budget,
            last_references=last.prompt.references_used if last is not None else 0,
            last_sources=last.sources if last is not None else [],
        )

    def context_tokens(self) -> int:
        """Tokens the next prompt would use before the new message (for the status bar)."""
        return self.next_prompt().token_count
