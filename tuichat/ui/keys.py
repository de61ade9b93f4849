"""The app's key bindings in one table: the Footer, the command palette, the config remaps and the
README all come from here.

Keys avoid what terminals keep for themselves (ctrl+c, ctrl+s/ctrl+q flow control aside from quit,
ctrl+z suspend, ctrl+h/i/m which arrive as backspace/tab/enter) and what the input box already
uses (ctrl+a/e/k/u/w/d/x/v/y/z). Remap any of them in config.toml:

    [keys]
    regenerate = "f5"
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from ..errors import ConfigError


@dataclass(frozen=True)
class KeyAction:
    action: str  # the `action_<name>` method on the chat screen; also the binding id used by remaps
    key: str
    label: str  # shown in the Footer
    help: str  # shown in the command palette
    show: bool = True


ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("stop", "escape", "Stop", "Stop the answer being generated (keeps what was written)"),
    KeyAction("new_session", "ctrl+n", "New", "Start a new chat session (the persona greets you)"),
    KeyAction("switch_persona", "ctrl+o", "Persona", "Pick another persona; applies from the next turn"),
    KeyAction("regenerate", "ctrl+r", "Retry", "Generate the last answer again"),
    KeyAction("copy_answer", "ctrl+t", "Copy", "Copy the last answer to the clipboard"),
    KeyAction("copy_code", "ctrl+g", "Code", "Copy a code block of the last answer (press again for the previous one)"),
    KeyAction("toggle_knowledge", "ctrl+b", "Knowledge", "Show or hide the knowledge panel"),
    KeyAction("sessions", "ctrl+l", "Sessions", "List past sessions: resume, rename, delete, export"),
    KeyAction("export_session", "f9", "Export", "Export this session to a Markdown file", show=False),
)
QUIT = KeyAction("quit", "ctrl+q", "Quit", "Quit tuichat (typing quit works too)")
# Newline inside the message box. ctrl+j arrives as a plain line feed in every terminal; shift+enter
# and alt+enter only where the terminal reports them (kitty keyboard protocol, most modern ones).
NEWLINE_KEYS = ("ctrl+j", "shift+enter", "alt+enter")
KNOWN_ACTIONS = tuple(a.action for a in ACTIONS) + (QUIT.action, "newline")


def screen_bindings() -> list[Binding]:
    return [Binding(a.key, a.action, a.label, show=a.show, id=a.action, tooltip=a.help) for a in ACTIONS]


def quit_binding() -> Binding:
    return Binding(QUIT.key, QUIT.action, QUIT.label, id=QUIT.action, priority=True, tooltip=QUIT.help)


def keymap(remaps: dict[str, str] | None) -> dict[str, str]:
    """Validated {binding id: key} for `App.set_keymap`; an unknown action is a ConfigError."""
    remaps = dict(remaps or {})
    for action, key in remaps.items():
        if action not in KNOWN_ACTIONS:
            raise ConfigError(f"config [keys]: unknown action {action!r}; known: {', '.join(KNOWN_ACTIONS)}")
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"config [keys]: {action} needs a key name such as \"f5\" or \"ctrl+r\"")
    return remaps


def key_help_lines(remaps: dict[str, str] | None = None) -> list[str]:
    """'key  what it does' lines for the welcome text, with the user's remaps applied."""
    remaps = remaps or {}
    rows = [(remaps.get(a.action, a.key), a.help) for a in (*ACTIONS, QUIT)]
    rows.insert(0, ("enter", "Send the message"))
    rows.insert(1, (remaps.get("newline", NEWLINE_KEYS[0]), "New line in the message"))
    return [f"{key:<12} {text}" for key, text in rows]
