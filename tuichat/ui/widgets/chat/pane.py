"""The scrolling conversation. It renders the branch on screen straight from the chat core and keeps
no list of turns of its own: `self._view` is the core (anything with `branch()` and `versions()`),
and the mounted ChatMessage widgets are the visible tail of `view.branch()` in order (each knows its
turn id). Long sessions show their most recent messages; a button above them loads earlier ones in
pages, so a 1,000-turn session opens as fast as a short one."""
from __future__ import annotations

from typing import Protocol, Sequence

from textual import on
from textual.containers import VerticalScroll
from textual.widgets import Button, Static

from tuichat.text_safety import visible
from tuichat.core.conversation import Turn
from tuichat.ui.widgets.chat.message import ChatMessage

PAGE = 40  # messages mounted at once; Markdown widgets are not free


class ConversationView(Protocol):
    def branch(self) -> list[Turn]: ...

    def versions(self, turn_id: int) -> list[Turn]: ...


class _Empty:
    def branch(self) -> list[Turn]:
        return []

    def versions(self, turn_id: int) -> list[Turn]:
        return []


class ChatPane(VerticalScroll):
    # Clicking in the conversation (to select text or load earlier messages) leaves the keyboard in
    # the message box; tab still reaches the pane for keyboard scrolling.
    FOCUS_ON_CLICK = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._view: ConversationView = _Empty()
        self._hidden = 0  # how many of the oldest turns of the branch are not mounted
        self._speaker = "assistant"

    def on_mount(self) -> None:
        self.anchor()

    async def show(self, view: ConversationView, speaker: str) -> None:
        """Render `view.branch()`, newest page mounted."""
        self._view, self._speaker = view, speaker
        branch = view.branch()
        self._hidden = max(0, len(branch) - PAGE)
        await self.remove_children()
        widgets: list = [self._message(t) for t in branch[self._hidden :]]
        if self._hidden:
            widgets.insert(0, self._more_button())
        await self.mount_all(widgets)
        self.anchor()

    async def show_from(self, turn_id: int | None) -> None:
        """Re-render the branch from `turn_id` down (after a version flip, an edit, a regenerate):
        widgets above it that still match the branch stay, the rest is mounted afresh."""
        shown = self._view.branch()[self._hidden :]
        mounted = self.messages()
        keep = 0
        while (keep < min(len(mounted), len(shown)) and mounted[keep].turn_id == shown[keep].id
               and shown[keep].id != turn_id):
            keep += 1
        await self.remove_children(mounted[keep:])
        await self.mount_all([self._message(t) for t in shown[keep:]])
        self.anchor()

    async def remove_after(self, turn_id: int) -> None:
        """Unmount what follows the message `turn_id` (the answer about to be regenerated)."""
        mounted = self.messages()
        at = next((i for i, m in enumerate(mounted) if m.turn_id == turn_id), None)
        if at is not None:
            await self.remove_children(mounted[at + 1 :])

    async def show_notice(self, text: str, id: str | None = None) -> Static:
        notice = Static(visible(text), classes="notice", markup=False, id=id)
        await self.mount(notice)
        return notice

    async def add_turn(self, turn: Turn) -> ChatMessage:
        """Mount a turn that was just added to the end of the branch."""
        message = self._message(turn)
        await self.mount(message)
        return message

    async def add_placeholder(self, speaker: str | None = None) -> ChatMessage:
        """An answer about to stream (it gets its turn id once stored)."""
        message = ChatMessage("assistant", "", speaker=speaker or self._speaker)
        await self.mount(message)
        return message

    def messages(self) -> list[ChatMessage]:
        return list(self.query(ChatMessage))

    def last_answer(self) -> ChatMessage | None:
        answers = [m for m in self.query(ChatMessage) if m.role == "assistant"]
        return answers[-1] if answers else None

    def version_label(self, turn_id: int | None) -> str:
        """'2/3' when a message has several versions, else ''."""
        if turn_id is None:
            return ""
        ids = [v.id for v in self._view.versions(turn_id)]
        return f"{ids.index(turn_id) + 1}/{len(ids)}" if len(ids) > 1 and turn_id in ids else ""

    def _message(self, turn: Turn) -> ChatMessage:
        return ChatMessage(
            turn.role, turn.content, speaker=self._speaker if turn.role == "assistant" else "",
            partial=turn.partial, turn_id=turn.id, versions=self.version_label(turn.id),
        )

    def _more_button(self) -> Button:
        button = Button(f"↑ {self._hidden:,} earlier messages — show {min(PAGE, self._hidden)} more", id="show-earlier")
        button.can_focus = False  # clicking it must not take the keyboard away from the message box
        return button

    @on(Button.Pressed, "#show-earlier")
    async def show_earlier(self) -> None:
        start = max(0, self._hidden - PAGE)
        older: Sequence[Turn] = self._view.branch()[start : self._hidden]
        self._hidden = start
        button = self.query_one("#show-earlier", Button)
        first = next(iter(self.query(ChatMessage)), None)
        if first is not None:
            await self.mount_all([self._message(t) for t in older], before=first)
        if self._hidden:
            button.label = f"↑ {self._hidden:,} earlier messages — show {min(PAGE, self._hidden)} more"
        else:
            await button.remove()
        self.release_anchor()
