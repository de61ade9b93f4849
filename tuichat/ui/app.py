"""The Textual app: a thin shell that shows the chat screen and hands it the session loader.

`make_app` is the one way to build it, for the CLI and the tests alike.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from tuichat.text_safety import visible
from tuichat.ui import keys
from tuichat.ui.screens.chat import ChatScreen

if TYPE_CHECKING:
    from tuichat.core.seams import ChatCore

SessionLoader = Callable[[Callable[[str], None]], "ChatCore"]  # progress callback -> a ready chat core


class TuichatApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tuichat"
    BINDINGS = [keys.quit_binding()]

    def __init__(self, load_session: SessionLoader, settings: Any) -> None:
        super().__init__()
        self.load_session = load_session
        self.settings = settings
        self._remaps = keys.keymap(getattr(settings, "keys", None))

    def on_mount(self) -> None:
        self.set_keymap(self._remaps)
        self.push_screen(ChatScreen(self.load_session))

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification shows its text literally: messages carry persona titles, file names and
        errors, which must never be parsed as markup (`[@click=app.quit]`) nor reach the terminal as
        control codes."""
        super().notify(visible(message), title=visible(title), severity=severity, timeout=timeout, markup=False)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if isinstance(screen, ChatScreen):
            for action in keys.ACTIONS:
                yield SystemCommand(action.title, action.help, partial(screen.run_action, action.action))
        yield from super().get_system_commands(screen)


def make_app(load_session: SessionLoader, settings: Any) -> TuichatApp:
    """Build the app; raises ConfigError for a bad key remap before anything is drawn."""
    return TuichatApp(load_session, settings)
