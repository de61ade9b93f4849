"""Choose what the in-app benchmark runs: tasks and items per task (prefilled with the defaults).
Dismisses with (tasks, limit) or None."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

TASK_HELP = "arc_easy, arc_challenge, boolq, hellaswag, winogrande, mmlu, cmmlu, ceval"


class EvalSetupScreen(ModalScreen[tuple[str, int] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, tasks: str, limit: int, model: str) -> None:
        super().__init__(classes="dialog-screen")
        self.tasks, self.limit, self.model = tasks, limit, model

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Benchmark {self.model} — Enter starts, escape cancels", classes="dialog-title",
                         markup=False)
            yield Static(f"Tasks (comma-separated: {TASK_HELP})", markup=False)
            yield Input(self.tasks, id="eval-tasks")
            yield Static("Items per task (MMLU-like tasks: per subject)")
            yield Input(str(self.limit), id="eval-limit", type="integer")
            yield Static("", id="eval-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#eval-tasks", Input).focus()

    @on(Input.Submitted)
    def start(self) -> None:
        tasks = self.query_one("#eval-tasks", Input).value
        limit = self.query_one("#eval-limit", Input).value.strip()
        names = [t.strip() for t in tasks.split(",") if t.strip()]
        from tuichat.adapters.evals import known_tasks

        unknown = [t for t in names if t not in known_tasks()]
        if not names or unknown:
            self.query_one("#eval-error", Static).update(f"unknown task(s): {', '.join(unknown) or '(none)'}")
            return
        if not limit.isdigit() or int(limit) < 1:
            self.query_one("#eval-error", Static).update("items per task must be a whole number ≥ 1")
            return
        self.dismiss((",".join(names), int(limit)))

    def action_cancel(self) -> None:
        self.dismiss(None)
