"""One message in the chat pane: a role line and a body.

Assistant answers are Markdown (code blocks highlighted) and can stream; user messages are plain
text (what was typed, never interpreted), and very long ones are shown shortened — the full text
is what was sent and stored. A message knows the id of the turn it shows and, when that message has
several versions, shows which one ("‹ 2/3 ›"). A message can take focus (ctrl+up from the message
box): ←/→ then flip versions and Enter edits a user message — see `keys.MESSAGE_ACTIONS`.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tuichat.text_safety import visible
from tuichat.ui import keys

# A 100 KB paste would be thousands of wrapped lines: show its head and say how much is hidden.
USER_PREVIEW_CHARS = 4000


class ChatMessage(Vertical, can_focus=True):
    BINDINGS = keys.message_bindings()
    # Selected from the keyboard only (ctrl+up): a click to select text keeps typing in the message box.
    FOCUS_ON_CLICK = False

    def __init__(self, role: str, text: str = "", *, speaker: str = "", partial: bool = False,
                 turn_id: int | None = None, versions: str = "") -> None:
        super().__init__(classes=f"message {role}")
        self.role = role
        self.turn_id = turn_id
        self.versions = versions
        self.speaker = speaker or ("you" if role == "user" else role)
        self.text = text
        self.partial = partial
        self._stream: MarkdownStream | None = None
        self._shown = visible(text)  # what the Markdown body holds, to append only the new part while streaming

    def compose(self) -> ComposeResult:
        yield Static(self._role_line(), classes="role")
        if self.role == "assistant":
            yield Markdown(self._shown, classes="body")  # model output: control codes made visible
        else:
            yield Static(_user_text(self.text), classes="body")

    def _role_line(self) -> Text:
        line = Text(visible(self.speaker), style="bold")
        if self.partial:
            line.append("  (stopped)", style="italic")
        if self.versions:
            line.append(f"  ‹ {self.versions} ›", style="dim")
        return line

    def set_turn(self, turn_id: int | None, versions: str) -> None:
        self.turn_id, self.versions = turn_id, versions
        self.query_one(".role", Static).update(self._role_line())

    async def stream_to(self, text: str) -> None:
        """Show `text` (the whole answer so far), appending only what is new."""
        self.text = text
        text = visible(text)  # per character, so a control split between two deltas is still caught
        body = self.query_one(".body", Markdown)
        if not text.startswith(self._shown):
            await self._stop_stream()
            self._shown = text
            await body.update(text)
            return
        delta = text[len(self._shown) :]
        if not delta:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(body)
        self._shown = text
        await self._stream.write(delta)

    async def finish(self, text: str, partial: bool = False) -> None:
        await self._stop_stream()
        self.text, self.partial = text, partial
        if visible(text) != self._shown and self.role == "assistant":
            self._shown = visible(text)
            await self.query_one(".body", Markdown).update(self._shown)
        self.query_one(".role", Static).update(self._role_line())
        self.set_class(partial, "partial")

    async def _stop_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()


def _user_text(text: str) -> Text:
    if len(text) <= USER_PREVIEW_CHARS:
        return Text(visible(text))
    hidden = len(text) - USER_PREVIEW_CHARS
    shown = Text(visible(text[:USER_PREVIEW_CHARS]))
    shown.append(f"\n… {hidden:,} more characters (sent in full, kept in history)", style="italic dim")
    return shown
