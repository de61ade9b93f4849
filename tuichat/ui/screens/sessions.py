"""Past sessions: resume (Enter), rename (r), delete with confirmation (d), export to Markdown (e)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static

from tuichat.errors import TuichatError
from tuichat.ui.exporting import export_session
from tuichat.ui.widgets.sessions import SessionList
from tuichat.ui.screens.confirm import ConfirmScreen
from tuichat.ui.screens.rename import RenameScreen

if TYPE_CHECKING:
    from tuichat.core.seams import HistoryView


class SessionsScreen(ModalScreen[tuple[str, int] | None]):
    """Dismisses with ("resume", id), ("deleted", id) when the current session was deleted, or None."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
        Binding("e", "export", "Export"),
    ]

    def __init__(self, history: "HistoryView", current: int | None, current_busy: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.history, self.current = history, current
        self.current_busy = current_busy  # an answer is being written into the current session
        self._deleted_current = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog sessions"):
            yield Static("Sessions — Enter resumes", classes="dialog-title")
            yield SessionList(id="session-list")
            yield Footer()

    def on_mount(self) -> None:
        self.refresh_list()

    def refresh_list(self) -> None:
        self._sessions = {s.id: s for s in self.history.sessions()}
        self.query_one(SessionList).show(list(self._sessions.values()), self.current)

    @property
    def _selected(self) -> Any:
        session_id = self.query_one(SessionList).selected_id
        return self._sessions.get(session_id) if session_id is not None else None

    @on(OptionList.OptionSelected, "#session-list")
    def resume(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(("resume", int(event.option.id)))

    def action_rename(self) -> None:
        session = self._selected
        if session is None:
            return

        def renamed(title: str | None) -> None:
            if title:
                self.history.rename_session(session.id, title)
                self.refresh_list()

        self.app.push_screen(RenameScreen(session.title or ""), renamed)

    def action_delete(self) -> None:
        session = self._selected
        if session is None:
            return
        if session.id == self.current and self.current_busy:
            self.notify("An answer is being written into this session: close this list and stop it (escape) first.", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.history.delete_session(session.id)
                self._deleted_current |= session.id == self.current
                self.refresh_list()
                self.notify(f"Deleted “{session.title or session.id}”")

        title = session.title or "(untitled)"
        self.app.push_screen(ConfirmScreen(f"Delete session “{title}” ({session.message_count} messages)?", "Delete"), confirmed)

    def action_export(self) -> None:
        session = self._selected
        if session is None:
            return
        try:
            path = export_session(self.history, session.id, session.title)
        except (OSError, TuichatError) as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify(f"Exported to {path}", timeout=8)

    def action_close(self) -> None:
        self.dismiss(("deleted", self.current) if self._deleted_current else None)
