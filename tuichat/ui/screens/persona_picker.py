"""Pick a persona: a filterable list showing each one's title, description and greeting."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tuichat.personas.greetings import greeting_for, user_language
from tuichat.text_safety import visible

GREETING_PREVIEW = 90


class PersonaPickerScreen(ModalScreen[str | None]):
    """Dismisses with the chosen persona's name, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, personas: list[Any], current: str | None = None, errors: list[str] = ()) -> None:
        super().__init__(classes="dialog-screen")
        self.personas, self.current, self.errors = list(personas), current, list(errors)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker"):
            yield Static("Persona — type to filter, Enter to choose", classes="dialog-title")
            yield Input(placeholder="filter", id="filter")
            yield OptionList(id="personas")
            if self.errors:
                yield Static(Text(visible("\n".join(self.errors)), style="red"), classes="errors")

    def on_mount(self) -> None:
        self._fill("")

    def _fill(self, query: str) -> None:
        options = self.query_one("#personas", OptionList)
        options.clear_options()
        matches = [p for p in self.personas if matches_filter(p, query)]
        options.add_options([Option(persona_label(p, p.name == self.current), id=p.name) for p in matches])
        names = [p.name for p in matches]
        if names:
            options.highlighted = names.index(self.current) if self.current in names else 0

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#filter")
    def choose_highlighted(self) -> None:
        options = self.query_one("#personas", OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected, "#personas")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_move(self, step: int) -> None:
        options = self.query_one("#personas", OptionList)
        if options.option_count:
            options.highlighted = ((options.highlighted or 0) + step) % options.option_count

    def action_cancel(self) -> None:
        self.dismiss(None)


def matches_filter(persona: Any, query: str) -> bool:
    words = query.lower().split()
    haystack = " ".join(
        [persona.name, persona.title, persona.description, persona.language, *persona.keywords]
    ).lower()
    return all(word in haystack for word in words)


def persona_label(persona: Any, current: bool = False) -> Text:
    label = Text(("● " if current else "  ") + visible(persona.title or persona.name), style="bold")
    label.append(visible(f"  ({persona.name}, {persona.language})"), style="dim")
    if persona.description:
        label.append(visible(f"\n  {persona.description}"))
    greeting = visible(" ".join(greeting_for(persona, user_language()).split()))
    if greeting:
        cut = greeting[:GREETING_PREVIEW] + ("…" if len(greeting) > GREETING_PREVIEW else "")
        label.append(f"\n  “{cut}”", style="italic dim")
    return label
