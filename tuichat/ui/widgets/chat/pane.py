"""The scrolling conversation. Long sessions show their most recent messages; a button above them
loads earlier ones in pages, so a 1,000-turn session opens as fast as a short one."""
from __future__ import annotations

from textual import on
from textual.containers import VerticalScroll
from textual.widgets import Button, Static

from tuichat.text_safety import visible
from tuichat.ui.widgets.chat.message import ChatMessage

PAGE = 40  # messages mounted at once; Markdown widgets are not free


class ChatPane(VerticalScroll):
    # Clicking in the conversation (to select text or load earlier messages) leaves the keyboard in
    # the message box; tab still reaches the pane for keyboard scrolling.
    FOCUS_ON_CLICK = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._turns: list[dict] = []
        self._hidden = 0  # how many of the oldest turns are not mounted
        self._speaker = "assistant"

    def on_mount(self) -> None:
        self.anchor()

    async def show_turns(self, turns: list[dict], speaker: str) -> None:
        """Replace the pane's content with `turns` (role/content dicts), newest page mounted."""
        self._turns, self._speaker = list(turns), speaker
        self._hidden = max(0, len(turns) - PAGE)
        await self.remove_children()
        widgets = [self._message(t) for t in self._turns[self._hidden :]]
        if self._hidden:
            widgets.insert(0, self._more_button())
        await self.mount_all(widgets)
        self.anchor()

    async def show_notice(self, text: str, id: str | None = None) -> Static:
        notice = Static(visible(text), classes="notice", markup=False, id=id)
        await self.mount(notice)
        return notice

    async def add_message(self, role: str, text: str, speaker: str | None = None) -> ChatMessage:
        self._turns.append({"role": role, "content": text})
        message = self._message(self._turns[-1], speaker)
        await self.mount(message)
        return message

    def messages(self) -> list[ChatMessage]:
        return list(self.query(ChatMessage))

    def last_answer(self) -> ChatMessage | None:
        answers = [m for m in self.query(ChatMessage) if m.role == "assistant"]
        return answers[-1] if answers else None

    async def drop_after_last_user(self) -> None:
        """Remove what follows the last user message (the answer about to be regenerated)."""
        last_user = max((i for i, t in enumerate(self._turns) if t["role"] == "user"), default=None)
        if last_user is None:
            return
        extra = len(self._turns) - last_user - 1
        del self._turns[last_user + 1 :]
        if extra:
            await self.remove_children(self.messages()[-extra:])

    def _message(self, turn: dict, speaker: str | None = None) -> ChatMessage:
        role = turn.get("role", "assistant")
        return ChatMessage(
            role, turn.get("content", ""), speaker=(speaker or self._speaker) if role == "assistant" else "",
            partial=bool(turn.get("partial")),
        )

    def _more_button(self) -> Button:
        button = Button(f"↑ {self._hidden:,} earlier messages — show {min(PAGE, self._hidden)} more", id="show-earlier")
        button.can_focus = False  # clicking it must not take the keyboard away from the message box
        return button

    @on(Button.Pressed, "#show-earlier")
    async def show_earlier(self) -> None:
        start = max(0, self._hidden - PAGE)
        older = [self._message(t) for t in self._turns[start : self._hidden]]
        self._hidden = start
        button = self.query_one("#show-earlier", Button)
        first = next(iter(self.query(ChatMessage)), None)
        if first is not None:
            await self.mount_all(older, before=first)
        if self._hidden:
            button.label = f"↑ {self._hidden:,} earlier messages — show {min(PAGE, self._hidden)} more"
        else:
            await button.remove()
        self.release_anchor()
