"""The model & adapter picker: the loaded base, its adapters with provenance and benchmark deltas,
adapters made for another base (greyed, with the reason), and other local models.

The list is read in a thread worker (it hashes the base and reads run folders), so the screen opens
at once. Dismisses with ("adapter", folder or None for the base), ("model", path) or None.
"""
from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tuichat.ui.workers import describe

Choice = tuple[str, str | None]
BASE_ID = "adapter:"


def clean(text: Any) -> str:
    """Text from disk (names, paths) without control characters, for safe display."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def delta_text(deltas: dict[str, float]) -> str:
    return "  ".join(f"{task} {value:+.1f}" for task, value in sorted(deltas.items()))


def adapter_label(info: Any, active: bool) -> Text:
    label = Text(("● " if active else "  ") + clean(info.name), style="bold" if info.usable else "dim")
    if info.problem:
        label.append(f"\n    {clean(info.problem)}", style="red")
        return label
    for line in info.provenance_lines():
        label.append(f"\n    {clean(line)}", style="dim" if info.mismatch else "")
    if info.mismatch:
        label.append(f"\n    not for this model: {clean(info.mismatch)}", style="dim italic")
    elif info.deltas:
        label.append(f"\n    vs base: {delta_text(info.deltas)} points", style="green")
    return label


def model_label(model: Any) -> Text:
    label = Text(("● " if model.current else "  ") + clean(model.label), style="bold")
    if model.path:
        label.append(f"  ({model.kind}: {clean(model.path)})", style="dim")
    return label


class ModelPickerScreen(ModalScreen[Choice | None]):
    DEFAULT_CSS = """
    ModelPickerScreen #choices { height: 1fr; }
    ModelPickerScreen #picker-base { height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, read: Callable[[], Any]) -> None:
        super().__init__(classes="dialog-screen")
        self.read = read
        self.catalog: Any = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker"):
            yield Static("Model & adapter — Enter switches, escape closes", classes="dialog-title")
            yield Static("Reading adapters and models…", id="picker-base")
            yield OptionList(id="choices")

    def on_mount(self) -> None:
        dialog = self.query_one(".dialog")
        dialog.styles.width, dialog.styles.max_width = "96%", 120  # provenance lines want the room
        self.query_one(OptionList).focus()
        self._read()

    @work(thread=True, exit_on_error=False, group="catalog")
    def _read(self) -> None:
        try:
            catalog = self.read()
        except Exception as exc:  # a picker that cannot read says why and stays usable
            self.app.call_from_thread(self._failed, describe(exc))
            return
        self.app.call_from_thread(self.show, catalog)

    def _failed(self, error: str) -> None:
        self.query_one("#picker-base", Static).update(Text(f"Could not read adapters: {error}", style="red"))

    def show(self, catalog: Any) -> None:
        self.catalog = catalog
        self.query_one("#picker-base", Static).update(Text(
            f"Base: {clean(catalog.base_name)} · {clean(catalog.device)} · active: {clean(catalog.active or 'base')}"))
        options = self.query_one(OptionList)
        options.clear_options()
        rows: list[Option | None] = [Option(Text(("● " if catalog.active is None else "  ") + "base (no adapter)",
                                                 style="bold"), id=BASE_ID)]
        fitting = [a for a in catalog.adapters if a.usable]
        other = [a for a in catalog.adapters if not a.usable]
        for info in fitting + other:
            rows.append(Option(adapter_label(info, info.name == catalog.active), id=f"adapter:{info.path}",
                               disabled=not info.usable))
        if not catalog.adapters:
            rows.append(Option(Text("  no adapters found in ./runs or adapter_dirs; train one with `finetune`",
                                    style="dim italic"), disabled=True))
        rows.append(None)
        rows += [Option(model_label(m), id=f"model:{m.path}", disabled=m.current) for m in catalog.models]
        options.add_options(rows)
        active_id = f"adapter:{next((a.path for a in fitting if a.name == catalog.active), '')}"
        ids = [row.id if row is not None else None for row in rows]
        options.highlighted = ids.index(active_id) if active_id in ids else 0

    @on(OptionList.OptionSelected, "#choices")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        kind, _, value = (event.option.id or "").partition(":")
        if kind == "adapter":
            self.dismiss(("adapter", value or None))
        elif kind == "model":
            self.dismiss(("model", value))

    def action_cancel(self) -> None:
        self.dismiss(None)
