"""Edit one of your past messages: Enter sends the new version (the chat branches there), Escape
cancels and changes nothing."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tuichat.ui.widgets.input import PromptInput


class EditScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, text: str) -> None:
        super().__init__(classes="dialog-screen")
        self.original = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog edit"):
            yield Static("Edit your message — Enter sends it as a new version (the old branch is kept), Escape cancels")
            yield PromptInput(id="edit-text")

    def on_mount(self) -> None:
        box = self.query_one(PromptInput)
        box.load_text(self.original)
        box.move_cursor(box.document.end)
        box.focus()

    @on(PromptInput.Submitted)
    def submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        self.dismiss(event.text if event.text.strip() and event.text != self.original else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
