"""Past sessions from history, newest first: title, persona, date, message count."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tuichat.text_safety import visible


class SessionList(OptionList):
    def show(self, sessions: list[Any], current: int | None = None) -> None:
        highlighted = self.highlighted
        self.clear_options()
        self.add_options([Option(session_label(s, s.id == current), id=str(s.id)) for s in sessions])
        if sessions:
            self.highlighted = min(highlighted or 0, len(sessions) - 1)

    @property
    def selected_id(self) -> int | None:
        if self.highlighted is None or not self.option_count:
            return None
        return int(self.get_option_at_index(self.highlighted).id)


def session_label(session: Any, current: bool = False) -> Text:
    title = visible(session.title or "(untitled)")
    label = Text(("● " if current else "  ") + title, style="bold" if current else "")
    label.append(f"\n  {visible(session.persona)} · {_when(session.updated or session.created)}"
                 f" · {session.message_count} messages", style="dim")
    return label


def _when(stamp: Any) -> str:
    """History stores timestamps as text or epoch seconds; show them in local time, minute precision."""
    if isinstance(stamp, (int, float)):
        return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")
    text = str(stamp or "")
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text[:16]
