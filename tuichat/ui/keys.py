"""The app's key bindings in one table: the Footer, the command palette, the config remaps and the
README all come from here.

Keys avoid what terminals keep for themselves (ctrl+c, ctrl+s flow control, ctrl+z suspend,
ctrl+h/i/m which arrive as backspace/tab/enter), what Textual owns (ctrl+p palette, ctrl+q quit)
and what the message box already uses (ctrl+a/e/k/u/w/d/x/v/y/z). Remap any of them in config.toml:

    [keys]
    regenerate = "f5"
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from tuichat.errors import ConfigError


@dataclass(frozen=True)
class KeyAction:
    action: str  # the `action_<name>` method on the chat screen; also the binding id used by remaps
    key: str
    label: str  # shown in the Footer
    title: str  # the command palette entry
    help: str  # its explanation
    show: bool = True


ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("stop", "escape", "Stop", "Stop the answer", "Stop the answer being written (what was written is kept)"),
    KeyAction("new_session", "ctrl+n", "New", "New session", "Start a new chat session (the persona greets you)"),
    KeyAction("switch_persona", "ctrl+o", "Persona", "Switch persona", "Pick another persona; it applies from the next answer"),
    KeyAction("regenerate", "ctrl+r", "Retry", "Regenerate the last answer", "Answer the last message again"),
    KeyAction("select_messages", "ctrl+up", "Select", "Select a message",
              "Select a past message: ←/→ flip its versions, Enter edits yours (the chat branches)"),
    KeyAction("copy_answer", "ctrl+t", "Copy", "Copy the last answer", "Copy the last answer to the clipboard"),
    KeyAction("copy_code", "ctrl+g", "Code", "Copy a code block",
              "Copy the last answer's last code block; press again for the one before"),
    KeyAction("search", "ctrl+f", "Search", "Search all chats", "Search every session's messages; Enter opens a hit"),
    KeyAction("context", "f4", "Context", "What the next prompt holds",
              "The next prompt by part: persona, history turns kept and left out, references"),
    KeyAction("toggle_knowledge", "ctrl+b", "Knowledge", "Toggle the knowledge panel",
              "Show or hide indexed documents and the passages retrieved for the last answer"),
    KeyAction("sessions", "ctrl+l", "Sessions", "Sessions", "Past sessions: resume, rename, delete, export"),
    KeyAction("export_session", "f9", "Export", "Export this session", "Write this session to a Markdown file",
              show=False),
)
# On a focused message (ctrl+up from the message box selects the last one). The chat screen handles
# them as `action_<name>`; the Footer shows them while a message has the focus.
MESSAGE_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("flip_previous", "left,[", "◀ Version", "Previous version", "Show the previous version of this message"),
    KeyAction("flip_next", "right,]", "Version ▶", "Next version", "Show the next version of this message"),
    KeyAction("edit_message", "enter,e", "Edit", "Edit this message", "Edit your message: the chat branches there"),
    KeyAction("select_previous", "up", "Up", "Previous message", "Select the message above", show=False),
    KeyAction("select_next", "down", "Down", "Next message", "Select the message below", show=False),
    KeyAction("back_to_input", "escape", "Back", "Back to the message box", "Back to the message box"),
)
QUIT = KeyAction("quit", "ctrl+q", "Quit", "Quit", "Quit tuichat (typing quit and Enter works too)")
# Newline inside the message box. ctrl+j arrives as a plain line feed in every terminal; shift+enter
# and alt+enter only where the terminal reports them (kitty keyboard protocol, most modern ones).
NEWLINE_KEYS = ("ctrl+j", "shift+enter", "alt+enter")
KNOWN_ACTIONS = tuple(a.action for a in ACTIONS) + (QUIT.action, "newline")


def screen_bindings() -> list[Binding]:
    return [Binding(a.key, a.action, a.label, show=a.show, id=a.action, tooltip=a.help) for a in ACTIONS]


def message_bindings() -> list[Binding]:
    return [Binding(a.key, f"screen.{a.action}", a.label, show=a.show) for a in MESSAGE_ACTIONS]


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
