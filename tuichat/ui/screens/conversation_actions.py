"""What the chat screen does with one message of the conversation: select it (ctrl+up from the
message box, then ↑/↓), flip between its versions (←/→ or [ and ]), edit a user message (Enter:
the conversation branches there and the new version is answered). Every change goes through the
chat core; the pane then re-renders from it."""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from tuichat.ui import workers
from tuichat.ui.messages import ContextBrokenDown
from tuichat.ui.screens.context import ContextScreen
from tuichat.ui.screens.edit import EditScreen
from tuichat.ui.screens.search import SearchScreen
from tuichat.ui.widgets.chat import ChatMessage, ChatPane
from tuichat.ui.widgets.input import PromptInput

if TYPE_CHECKING:
    from tuichat.ui.screens.chat import ChatScreen


class ConversationActions:
    """Mixed into ChatScreen (which provides session, answering, _when_idle and _start_answer)."""

    def _focused_message(self: "ChatScreen") -> ChatMessage | None:
        focused = self.focused
        return focused if isinstance(focused, ChatMessage) else None

    def _focus_turn(self: "ChatScreen", turn_id: int | None) -> None:
        for message in self.query_one(ChatPane).messages():
            if message.turn_id == turn_id:
                message.focus()
                message.scroll_visible()
                return

    def action_select_messages(self: "ChatScreen") -> None:
        messages = [m for m in self.query_one(ChatPane).messages() if m.turn_id is not None]
        if not messages:
            self.notify("No message to select yet.", severity="warning")
            return
        messages[-1].focus()
        messages[-1].scroll_visible()

    def _move(self: "ChatScreen", step: int) -> None:
        current = self._focused_message()
        messages = self.query_one(ChatPane).messages()
        if current is None or current not in messages:
            return
        target = messages[max(0, min(len(messages) - 1, messages.index(current) + step))]
        target.focus()
        target.scroll_visible()

    def action_select_previous(self: "ChatScreen") -> None:
        self._move(-1)

    def action_select_next(self: "ChatScreen") -> None:
        self._move(1)

    def action_back_to_input(self: "ChatScreen") -> None:
        self.query_one(PromptInput).focus()

    async def _flip(self: "ChatScreen", step: int) -> None:
        message = self._focused_message()
        if message is None or message.turn_id is None or self.session is None:
            return
        if self.answering:
            self.notify("An answer is being written: stop it (escape) before flipping versions.", severity="warning")
            return
        if len(self.session.versions(message.turn_id)) < 2:
            self.notify("This message has only one version (ctrl+r writes another answer; Enter edits yours).")
            return
        shown = self.session.flip(message.turn_id, step)
        await self.query_one(ChatPane).show_from(shown.id)
        self._focus_turn(shown.id)
        self._run_count_context()

    async def action_flip_previous(self: "ChatScreen") -> None:
        await self._flip(-1)

    async def action_flip_next(self: "ChatScreen") -> None:
        await self._flip(1)

    def action_search(self: "ChatScreen") -> None:
        if not self._ready():
            return

        async def chosen(message_id: int | None) -> None:
            if message_id is not None:
                await self._when_idle(partial(self._open_at, message_id))

        self.app.push_screen(SearchScreen(self.session.history), chosen)

    async def _open_at(self: "ChatScreen", message_id: int) -> None:
        try:
            notices = self.session.open_at(message_id)
        except Exception as exc:  # deleted meanwhile (another tuichat): say so, keep this session
            self.notify(workers.describe(exc), severity="error")
            return
        for notice in notices:
            self.notify(notice, severity="warning", timeout=10)
        await self._show_conversation()
        self._focus_turn(message_id)

    def action_context(self: "ChatScreen") -> None:
        if self._ready():
            self._run(workers.break_down_context, self.session, self.post_message, group="context-breakdown")

    def on_context_broken_down(self: "ChatScreen", message: ContextBrokenDown) -> None:
        self.app.push_screen(ContextScreen(message.lines))

    def action_edit_message(self: "ChatScreen") -> None:
        message = self._focused_message()
        if message is None or message.turn_id is None or self.session is None:
            return
        if message.role != "user":
            self.notify("Only your own messages can be edited; ctrl+r writes another answer.", severity="warning")
            return
        turn_id = message.turn_id
        original = next(t.content for t in self.session.branch() if t.id == turn_id)

        async def edited(text: str | None) -> None:
            if text is None:
                return

            async def branch() -> None:
                turn = self.session.edit(turn_id, text)
                await self.query_one(ChatPane).show_from(turn.id)
                self.query_one(PromptInput).focus()
                await self._start_answer(turn.id)

            await self._when_idle(branch)

        self.app.push_screen(EditScreen(original), edited)
