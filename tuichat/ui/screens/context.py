"""The next prompt by part (F4): persona, history turns kept and left out, references, total."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tuichat.text_safety import visible


class ContextScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,f4", "close", "Close")]

    def __init__(self, lines: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("What the next prompt holds — Escape closes", classes="dialog-title")
            yield Static(visible("\n".join(self.lines)), id="context-lines", markup=False)  # names from files

    def action_close(self) -> None:
        self.dismiss(None)
