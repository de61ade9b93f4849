"""Search every session's messages (ctrl+f): type words, Enter searches; ↓ then Enter on a hit opens
its session with that message on screen. "Quoted words" match as a phrase. A query that cannot be
searched (an unbalanced quote) is one line under the box, and the list keeps its last results."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from tuichat.errors import TuichatError
from tuichat.text_safety import visible

if TYPE_CHECKING:
    from tuichat.core.history_search import SearchHit
    from tuichat.core.seams import HistoryView


def hit_label(hit: "SearchHit") -> Text:
    """One hit, as plain text (stored text never becomes markup)."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.created))
    label = Text(f"{when}  ", style="dim")
    label.append(visible(hit.session_title[:40]), style="bold")
    label.append(f"  {'you' if hit.role == 'user' else hit.role}: ", style="italic")
    label.append(visible(" ".join(hit.snippet.split())))
    return label


class SearchScreen(ModalScreen[int | None]):
    """Dismisses with the message id of the chosen hit, or None."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, history: "HistoryView") -> None:
        super().__init__(classes="dialog-screen")
        self.history = history

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog sessions"):
            yield Static("Search all chats — Enter searches, ↓ and Enter opens a hit", classes="dialog-title")
            yield Input(placeholder='words, or "a phrase"', id="search-query")
            yield Static("", id="search-status", markup=False)
            yield OptionList(id="search-hits")
            yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#search-query")
    def search(self, event: Input.Submitted) -> None:
        status = self.query_one("#search-status", Static)
        try:
            hits = self.history.search(event.value)
        except TuichatError as exc:
            status.update(visible(exc))
            return
        hit_list = self.query_one(OptionList)
        hit_list.clear_options()
        hit_list.add_options([Option(hit_label(h), id=str(h.message_id)) for h in hits])
        status.update(f"{len(hits)} message(s)" if hits else "no matches")
        if hits:
            hit_list.highlighted = 0

    def on_key(self, event) -> None:
        if event.key == "down" and self.focused is self.query_one(Input):
            self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected, "#search-hits")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_close(self) -> None:
        self.dismiss(None)
