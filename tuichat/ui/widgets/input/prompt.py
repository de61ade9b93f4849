"""The message box: Enter sends, ctrl+j (or shift/alt+enter where the terminal reports them)
inserts a newline. Sending does not clear the box by itself: the screen clears it once the message
is accepted, so text typed while the model is busy is never lost."""
from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from tuichat.ui.keys import NEWLINE_KEYS


class PromptInput(TextArea):
    BINDINGS = [Binding(",".join(NEWLINE_KEYS), "newline", "Newline", show=False, id="newline")]

    @dataclass
    class Submitted(Message):
        prompt: "PromptInput"
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False, **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        start, end = self.selection
        self.replace("\n", start, end, maintain_selection_offset=False)
