"""The main screen: conversation, message box, status bar, knowledge panel.

Model work never runs here: loading, answering, token counting and knowledge syncs run in thread
workers (`..workers`) that post messages back, and the handlers below are the only code that
changes widgets. Actions that would change the conversation while an answer streams (new session,
resume, regenerate) stop the answer first and run once it has ended, so nothing is lost or mixed.
"""
from __future__ import annotations

import threading
from functools import partial
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from tuichat.text_safety import visible
from tuichat.ui import keys, workers
from tuichat.ui.clipboard import pick_code_block
from tuichat.ui.messages import (
    AnswerFailed, AnswerFinished, AnswerStarted, ContextCounted, LoadProgressed, SessionLoaded, SessionLoadFailed,
    TokenStreamed,
)
from tuichat.ui.widgets.chat import ChatMessage, ChatPane
from tuichat.ui.widgets.input import PromptInput
from tuichat.ui.widgets.knowledge import KnowledgePanel
from tuichat.ui.widgets.status import StatusBar
from tuichat.ui.screens.ab_actions import ABActions
from tuichat.ui.screens.adapter_actions import AdapterActions
from tuichat.ui.screens.conversation_actions import ConversationActions
from tuichat.ui.screens.session_actions import SessionActions

if TYPE_CHECKING:
    from tuichat.core.seams import ChatCore

PendingAction = Callable[[], Awaitable[None] | None]
DRAFT_PAUSE_S = 0.4  # a pause in typing this long prefills the message typed so far


class ChatScreen(ABActions, AdapterActions, ConversationActions, SessionActions, Screen):
    BINDINGS = keys.screen_bindings()

    def __init__(self, loader: Callable[[Callable[[str], None]], "ChatCore"]) -> None:
        super().__init__()
        self.loader = loader
        self.session: "ChatCore | None" = None
        self.answering = False
        self._answer_no = 0
        self._answer_widget: ChatMessage | None = None
        self._cancel = threading.Event()
        self._after_answer: list[PendingAction] = []
        self._code_presses = 0
        self._draft_timer: Any = None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield ChatPane(id="chat")
            yield KnowledgePanel(id="knowledge")
        newline = (getattr(self.app.settings, "keys", None) or {}).get("newline", keys.NEWLINE_KEYS[0])
        yield PromptInput(id="prompt", placeholder=f"Message — Enter sends, {newline} new line, ctrl+p commands")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(PromptInput).focus()
        pane = self.query_one(ChatPane)
        await pane.show_notice("\n".join(keys.key_help_lines(getattr(self.app.settings, "keys", None))))
        await pane.show_notice("Loading the model…", id="load-progress")
        self.run_worker(partial(workers.load_session, self.loader, self.post_message),
                        name="load", group="load", thread=True, exit_on_error=False)

    # -- loading ------------------------------------------------------------------------------
    def on_load_progressed(self, message: LoadProgressed) -> None:
        self.query_one(StatusBar).state = "loading"
        for notice in self.query_one(ChatPane).query("#load-progress"):
            notice.update(visible(message.text))  # may name a skipped file

    async def on_session_loaded(self, message: SessionLoaded) -> None:
        self.session = session = message.session
        self.attach_switcher(session)
        status = self.query_one(StatusBar)
        status.model, status.device = session.engine.model_name, str(session.engine.device)
        status.estimated = bool(getattr(session.engine, "count_is_estimate", False))
        status.budget, status.state = session.settings.context_budget, "ready"
        await self._show_conversation()
        self.query_one(KnowledgePanel).attach(session.knowledge)

    async def on_session_load_failed(self, message: SessionLoadFailed) -> None:
        self.query_one(StatusBar).state = "model failed to load"
        await self.query_one(ChatPane).show_notice(f"The model could not be loaded: {message.error}")
        self.notify(message.error, title="Model failed to load", severity="error", timeout=30)

    # -- sending and streaming ----------------------------------------------------------------
    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        text, command = event.text, event.text.strip().lower()
        if command == "quit":
            await self.app.action_quit()
            return
        if command == "newsession" and self.session is not None:
            event.prompt.clear()
            await self.action_new_session()
            return
        if not text.strip():
            return
        if self.session is None:
            self.notify("The model is still loading; your message is kept in the box.", severity="warning")
            return
        if self.answering:
            self.notify("An answer is being written: press escape to stop it. Your message is kept.", severity="warning")
            return
        if self.swapping:
            self.notify("The adapter is being switched; send again in a moment. Your message is kept.", severity="warning")
            return
        event.prompt.clear()
        turn = self.session.add_user_message(text)  # stored before anything else can fail
        await self.query_one(ChatPane).add_turn(turn)
        await self._start_answer(turn.id)

    @on(PromptInput.Changed, "#prompt")
    def draft_changed(self, _event: PromptInput.Changed) -> None:
        """While the user types, the model prefills the message so far (after a short pause), so
        sending it prefills only the rest: the first token comes sooner."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_PAUSE_S, self._warm_draft)

    def _warm_draft(self) -> None:
        self._draft_timer = None
        if self.session is not None and not self.answering and not self.swapping:
            self.session.warm(self.query_one(PromptInput).text)  # returns at once: the work is in a thread

    async def _start_answer(self, user_turn_id: int) -> None:
        """Answer a user message that is on screen (the last one shown)."""
        self._answer_no += 1
        self._set_answering(True)
        self._code_presses = 0
        self._cancel = threading.Event()
        speaker = f"{self._speaker()} · {self.session.engine.model_name}"  # which model + adapter writes it
        self._answer_widget = await self.query_one(ChatPane).add_placeholder(speaker)
        self._run(workers.stream_answer, self.session, self._answer_no, user_turn_id, self._cancel,
                  self.post_message, group="answer")

    def on_answer_started(self, message: AnswerStarted) -> None:
        if message.answer_no == self._answer_no and message.retrieval is not None:
            self.query_one(KnowledgePanel).show_retrieval(message.retrieval)

    async def on_token_streamed(self, message: TokenStreamed) -> None:
        if message.answer_no == self._answer_no and self._answer_widget is not None:
            await self._answer_widget.stream_to(message.text)

    async def on_answer_finished(self, message: AnswerFinished) -> None:
        stats = message.stats
        stopped = getattr(stats, "finish_reason", "") in ("cancelled", "error")
        await self._end_answer(message.text, stopped, message.message_id)
        status = self.query_one(StatusBar)
        if stats is not None:
            status.ttft_s, status.tokens_per_s = stats.ttft_s, stats.tokens_per_s
            if message.prompt_tokens is not None:
                status.context_tokens = message.prompt_tokens + stats.new_tokens
        for notice in message.notices:
            self.notify(notice, severity="warning", timeout=8)
        await self._run_pending()

    async def on_answer_failed(self, message: AnswerFailed) -> None:
        await self._end_answer(message.text, True, message.message_id)
        self.notify(message.error, title="The answer failed", severity="error", timeout=15)
        await self._run_pending()

    def _set_answering(self, answering: bool) -> None:
        self.answering = answering
        self.query_one(KnowledgePanel).paused = answering
        self.query_one(StatusBar).state = "answering" if answering else "ready"
        self.refresh_bindings()  # the Footer shows Stop only while there is something to stop

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "stop":
            return True if self.answering else None
        return True

    async def _end_answer(self, text: str, partial: bool, message_id: int | None) -> None:
        self._set_answering(False)
        widget, self._answer_widget = self._answer_widget, None
        if widget is None:
            return
        pane = self.query_one(ChatPane)
        if message_id is None:  # stopped before the first token: nothing was stored, show the branch
            await widget.remove()
            await pane.show_from(None)
            return
        await widget.finish(text or ("*(no answer)*" if not partial else ""), partial)
        widget.set_turn(message_id, pane.version_label(message_id))

    def _speaker(self) -> str:
        persona = self.session.persona
        return persona.title or persona.name

    # -- context ------------------------------------------------------------------------------
    def on_context_counted(self, message: ContextCounted) -> None:
        status = self.query_one(StatusBar)
        status.context_tokens, status.budget = message.tokens, message.budget

    async def _show_conversation(self) -> None:
        self.query_one(StatusBar).persona = self.session.persona.name
        await self.query_one(ChatPane).show(self.session, self._speaker())
        self.query_one(PromptInput).focus()  # a selected message may have just been unmounted
        self._run_count_context()

    def _run_count_context(self) -> None:
        self._run(workers.count_context, self.session, self.post_message, group="context")

    def _run(self, function: Callable[..., None], *args: Any, group: str) -> None:
        self.run_worker(partial(function, *args), group=group, thread=True, exit_on_error=False)

    # -- actions ------------------------------------------------------------------------------
    async def _when_idle(self, action: PendingAction, stop: bool = True) -> None:
        """Run `action` now, or (stopping the answer first when `stop`) once the answer has ended."""
        if not self.answering:
            result = action()
            if result is not None:
                await result
            return
        self._after_answer.append(action)
        if stop:
            self.action_stop()

    async def _run_pending(self) -> None:
        pending, self._after_answer = self._after_answer, []
        for action in pending:
            await self._when_idle(action)

    def _ready(self) -> bool:
        if self.session is None:
            self.notify("The model is still loading.", severity="warning")
        return self.session is not None

    def action_stop(self) -> None:
        if self.answering:
            self._cancel.set()
            self.query_one(StatusBar).state = "stopping"

    async def action_regenerate(self) -> None:
        if not self._ready():
            return

        async def again() -> None:
            last_user = next((t for t in reversed(self.session.branch()) if t.role == "user"), None)
            if last_user is None:
                self.notify("Nothing to regenerate yet: send a message first.", severity="warning")
                return
            await self.query_one(ChatPane).remove_after(last_user.id)  # the old answer stays a version
            if self.focused is None:  # it was the selected message
                self.query_one(PromptInput).focus()
            await self._start_answer(last_user.id)

        await self._when_idle(again)

    def action_copy_answer(self) -> None:
        answer = self.query_one(ChatPane).last_answer()
        if answer is None or not answer.text:
            self.notify("No answer to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(answer.text)
        still = " (still being written)" if answer is self._answer_widget else ""
        self.notify(f"Copied the last answer{still}: {len(answer.text):,} characters")

    def action_copy_code(self) -> None:
        answer = self.query_one(ChatPane).last_answer()
        picked = pick_code_block(answer.text, self._code_presses) if answer is not None else None
        if picked is None:
            self.notify("The last answer has no code block.", severity="warning")
            return
        number, total, lang, code = picked
        self._code_presses += 1
        self.app.copy_to_clipboard(code)
        self.notify(f"Copied code block {number}/{total}{f' ({lang})' if lang else ''}: {code.count(chr(10)) + 1} lines")

    def action_toggle_knowledge(self) -> None:
        panel = self.query_one(KnowledgePanel)
        panel.display = not panel.display

    def on_unmount(self) -> None:
        self._cancel.set()  # let a running generation thread stop promptly when the app exits
