"""A/B answers: pick two variants, watch them answer the last question side by side, keep one.

`ABSetupScreen` lists the variants (base, adapters, other personas) to tick two of. `ABScreen`
shows two columns; a thread worker answers with A then B (never both at once, so tokens never mix
and each column fills on its own). Keys: 1 keeps A, 2 keeps B, n keeps neither, escape stops.
Dismisses with (run, kept index) or None; the chat screen stores the pair.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Markdown, SelectionList, Static

from tuichat.ui.screens.model_picker import clean
from tuichat.ui.workers import describe


class ABSetupScreen(ModalScreen[list | None]):
    """Tick two variants; Enter starts. Dismisses with the two Variants or None."""

    DEFAULT_CSS = "ABSetupScreen SelectionList { height: auto; max-height: 16; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("enter", "start", "Start", priority=True)]

    def __init__(self, variants: list, preselected: tuple[int, int], question: str) -> None:
        super().__init__(classes="dialog-screen")
        self.variants, self.preselected, self.question = variants, preselected, question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("A/B answers — space ticks two variants, Enter starts", classes="dialog-title")
            yield Static(Text(f"Question: {clean(self.question)[:200]}", style="italic"))
            yield SelectionList(*[(clean(v.label), i, i in self.preselected) for i, v in enumerate(self.variants)],
                                id="variants")
            yield Static("", id="ab-error")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_start(self) -> None:
        chosen = sorted(self.query_one(SelectionList).selected)
        if len(chosen) != 2:
            self.query_one("#ab-error", Static).update(Text(f"tick exactly two variants ({len(chosen)} ticked)", style="red"))
            return
        self.dismiss([self.variants[i] for i in chosen])

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass
class ColumnGrew(Message):
    column: int
    text: str


@dataclass
class ComparisonEnded(Message):
    run: Any
    error: str = ""


class ABScreen(Screen[tuple | None]):
    DEFAULT_CSS = """
    ABScreen #ab-question { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    ABScreen #ab-columns { height: 1fr; }
    ABScreen .ab-column { width: 1fr; border: round $primary 50%; padding: 0 1; }
    ABScreen .ab-column.streaming { border: round $primary; }
    ABScreen .ab-column Markdown { background: transparent; margin: 0; }
    ABScreen #ab-state { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("1", "keep(0)", "Keep A"),
        Binding("2", "keep(1)", "Keep B"),
        Binding("n", "keep(-1)", "Neither"),
        Binding("escape", "stop", "Stop"),
    ]

    def __init__(self, question: str, variants: list, answer: Callable[..., Any]) -> None:
        super().__init__()
        self.question, self.variants, self.answer = question, variants, answer
        self.cancel = threading.Event()
        self.run: Any = None
        self.ended = False
        self.close_on_end = False
        self.texts = ["", ""]

    def compose(self) -> ComposeResult:
        yield Static(Text(f"A/B · {clean(self.question)}", no_wrap=False), id="ab-question")
        with Horizontal(id="ab-columns"):
            for i, variant in enumerate(self.variants):
                with VerticalScroll(classes="ab-column", id=f"ab-{i}") as column:
                    column.border_title = f"{'AB'[i]}: {clean(variant.label)}"
                    yield Markdown("", id=f"ab-text-{i}")
        yield Static("answering with A…", id="ab-state")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ab-0").add_class("streaming")
        self._answer()

    @work(thread=True, exit_on_error=False, group="ab")
    def _answer(self) -> None:
        try:
            run = self.answer(self.cancel, lambda column, text: self.post_message(ColumnGrew(column, text)))
        except Exception as exc:
            self.post_message(ComparisonEnded(None, describe(exc)))
            return
        self.post_message(ComparisonEnded(run))

    async def on_column_grew(self, message: ColumnGrew) -> None:
        if message.text == self.texts[message.column]:
            return
        self.texts[message.column] = message.text
        await self.query_one(f"#ab-text-{message.column}", Markdown).update(message.text)
        for i in range(2):
            self.query_one(f"#ab-{i}").set_class(i == message.column, "streaming")
        self.query_one("#ab-state", Static).update(f"answering with {'AB'[message.column]}…")

    def on_comparison_ended(self, message: ComparisonEnded) -> None:
        self.run, self.ended = message.run, True
        if self.close_on_end:
            self.dismiss(None)
            return
        for i in range(2):
            self.query_one(f"#ab-{i}").remove_class("streaming")
        if message.error:
            self.query_one("#ab-state", Static).update(Text(f"failed: {message.error} · n closes", style="red"))
            return
        times = " · ".join(f"{'AB'[i]} {a.seconds:.1f} s" for i, a in enumerate(self.run.answers))
        stopped = " (stopped)" if self.cancel.is_set() else ""
        self.query_one("#ab-state", Static).update(f"done{stopped} · {times} · 1 keeps A, 2 keeps B, n neither")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "keep" and parameters and parameters[0] >= 0:
            if self.run is None or len(self.run.answers) <= parameters[0]:
                return None  # shown disabled until that answer exists
        return True

    def action_keep(self, which: int) -> None:
        if which >= 0:
            self.dismiss((self.run, which))
        elif self.ended:
            self.dismiss(None)
        else:  # still answering: stop, then close without keeping anything
            self.close_on_end = True
            self.action_stop()

    def action_stop(self) -> None:
        """Stop the answer being written (what was written stays, to keep or not); closes once ended."""
        if self.ended:
            self.dismiss(None)
            return
        self.cancel.set()
        self.query_one("#ab-state", Static).update("stopping…")
