"""The chat screen's model actions: the model & adapter picker (live swap), switching the base
model, and quick benchmarks with a progress bar. A mixin of `ChatScreen`, kept apart so the chat
screen stays about the conversation.

Loading and switching run in thread workers. A switch asked for while an answer streams waits for
the answer to end (the answer is never cut, and never written by two models); sending waits for a
switch in progress. During a benchmark the adapter cannot change (it would change what is scored).
"""
from __future__ import annotations

import threading
from pathlib import Path
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.containers import Vertical
from textual.message import Message
from textual.widgets import ProgressBar, Static

from tuichat.ui.screens.model_picker import ModelPickerScreen, clean
from tuichat.ui.workers import describe, load_session


@dataclass
class AdapterSwitched(Message):
    active: str | None
    model_name: str
    seconds: float
    error: str = ""


@dataclass
class EvalProgressed(Message):
    done: int
    total: int
    task: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EvalProgressed)


@dataclass
class EvalEnded(Message):
    results: dict
    error: str = ""


@dataclass
class PersonaSetupApplied(Message):
    persona: str
    result: Any


def persona_setup(session: Any, switcher: Any, persona: Any, post: Any) -> None:
    from tuichat.adapters.persona_setup import apply_setup

    post(PersonaSetupApplied(persona.name, apply_setup(session, switcher, persona)))


def swap(switcher: Any, folder: str | None, post: Any) -> None:
    try:
        switcher.activate(folder)
    except Exception as exc:
        post(AdapterSwitched(switcher.active, switcher.describe(), 0.0, describe(exc)))
        return
    post(AdapterSwitched(switcher.active, switcher.describe(), switcher.last_switch_s))


def quick_eval(switcher: Any, plan: Any, cancel: threading.Event, post: Any) -> None:
    from tuichat.adapters.evals import run_quick_eval

    try:
        results = run_quick_eval(switcher.runtime, switcher.active_path, plan, cancel,
                                 lambda done, total, task: post(EvalProgressed(done, total, task)))
    except Exception as exc:
        post(EvalEnded({}, describe(exc)))
        return
    post(EvalEnded(results))


class AdapterActions:
    """Mixed into ChatScreen (which provides session, answering, _when_idle, _run, notify …)."""

    switcher: Any = None
    swapping = False
    _eval_cancel: threading.Event | None = None

    def attach_switcher(self, session: Any) -> None:
        from tuichat.adapters.switcher import AdapterSwitcher

        self.switcher = AdapterSwitcher(session.engine, session.settings.adapter)
        if not session.settings.adapter:  # a persona's own setup, unless --adapter chose one
            self.start_persona_setup(session.persona)

    # -- picker ----------------------------------------------------------------------------------
    def action_pick_model(self) -> None:
        if not self._ready():
            return
        switcher, settings = self.switcher, self.session.settings

        async def chosen(choice: tuple[str, str | None] | None) -> None:
            if choice is None:
                return
            kind, value = choice
            if kind == "adapter":
                await self.switch_adapter(value)
            elif kind == "model":
                await self._when_idle(partial(self._switch_model, value), stop=False)

        self.app.push_screen(ModelPickerScreen(lambda: switcher.catalog(settings)), chosen)

    async def switch_adapter(self, folder: str | None) -> None:
        if self._eval_cancel is not None:
            self.notify("A benchmark is running on this adapter; switch after it ends.", severity="warning")
            return
        if self.answering:
            self.notify("Switching after the answer being written ends.")
        await self._when_idle(partial(self._start_swap, folder), stop=False)

    def _start_swap(self, folder: str | None) -> None:
        from tuichat.ui.widgets.status import StatusBar

        self.swapping = True
        self.query_one(StatusBar).state = "switching…"
        self._run(swap, self.switcher, folder, self.post_message, group="swap")

    def on_adapter_switched(self, message: AdapterSwitched) -> None:
        from tuichat.ui.widgets.status import StatusBar

        self.swapping = False
        status = self.query_one(StatusBar)
        status.state, status.model = "ready", message.model_name
        if message.error:
            self.notify(message.error, title="Adapter not switched", severity="error", timeout=12)
            return
        which = f"adapter {clean(message.active)}" if message.active else "the base model (no adapter)"
        self.notify(f"Now answering with {which} ({message.seconds * 1000:.0f} ms)")

    def _switch_model(self, spec: str | None) -> None:
        from tuichat.adapters.switcher import session_with_model
        from tuichat.ui.widgets.status import StatusBar

        old = self.session
        self.session = None  # sending waits until the new model is there
        self.query_one(StatusBar).state = "loading"
        loader = partial(session_with_model, old, spec)
        self.run_worker(partial(load_session, loader, self.post_message), name="load", group="load", thread=True,
                        exit_on_error=False)

    # -- personas that bind a model setup --------------------------------------------------------
    def start_persona_setup(self, persona: Any) -> None:
        from tuichat.adapters.persona_setup import has_setup
        from tuichat.ui.widgets.status import StatusBar

        if not has_setup(persona):
            return
        if getattr(persona, "adapter", "") and self._eval_cancel is not None:
            self.notify("A benchmark is running; the persona's adapter is not applied.", severity="warning")
            return
        self.swapping = True
        self.query_one(StatusBar).state = "switching…"
        self._run(persona_setup, self.session, self.switcher, persona, self.post_message, group="swap")

    def on_persona_setup_applied(self, message: PersonaSetupApplied) -> None:
        from tuichat.ui.widgets.knowledge import KnowledgePanel
        from tuichat.ui.widgets.status import StatusBar

        self.swapping = False
        status = self.query_one(StatusBar)
        status.state, status.model = "ready", self.session.engine.model_name
        result = message.result
        if result.knowledge is not None:
            self.query_one(KnowledgePanel).attach(result.knowledge)
        for problem in result.problems:
            self.notify(clean(problem), title="Persona setup", severity="warning", timeout=12)
        if result.applied:
            self.notify(f"Persona {clean(message.persona)} applies: {clean(', '.join(result.applied))}")

    # -- benchmarks ------------------------------------------------------------------------------
    def action_quick_eval(self) -> None:
        """Choose tasks and items, then benchmark the active model + adapter; again while it runs cancels."""
        if not self._ready():
            return
        if self._eval_cancel is not None:
            self._eval_cancel.set()
            self.notify("Cancelling the benchmark at the next batch…")
            return
        from tuichat.adapters.evals import QUICK_LIMIT, QUICK_TASKS
        from tuichat.ui.screens.eval_setup import EvalSetupScreen

        async def chosen(choice: tuple[str, int] | None) -> None:
            if choice is not None:
                await self.start_eval(*choice)

        self.app.push_screen(EvalSetupScreen(",".join(QUICK_TASKS), QUICK_LIMIT, self.switcher.describe()), chosen)

    async def start_eval(self, tasks: str, limit: int) -> None:
        from tuichat.adapters.evals import EvalPlan

        if self._eval_cancel is not None or self.swapping:
            self.notify("Wait for the running benchmark or adapter switch to end.", severity="warning")
            return
        data_dir = self.session.settings.eval_data_dir
        plan = EvalPlan(tuple(t.strip() for t in tasks.split(",") if t.strip()), limit,
                        Path(data_dir).expanduser() if data_dir else None)
        self._eval_cancel = threading.Event()
        label = Static(f"Benchmark {', '.join(plan.tasks)} · {plan.limit} items each · f8 again cancels",
                       id="eval-label")
        panel = Vertical(label, ProgressBar(id="eval-bar", show_eta=True), id="eval-progress")
        panel.styles.height = "auto"
        await self.mount(panel, before=self.query_one("#prompt"))
        self._run(quick_eval, self.switcher, plan, self._eval_cancel, self.post_message, group="eval")

    def on_eval_progressed(self, message: EvalProgressed) -> None:
        for bar in self.query("#eval-bar").results(ProgressBar):
            bar.update(total=message.total, progress=message.done)
        for label in self.query("#eval-label").results(Static):
            label.update(f"Benchmark: {message.task} · {message.done}/{message.total} items · f8 again cancels")

    async def on_eval_ended(self, message: EvalEnded) -> None:
        self._eval_cancel = None
        for bar in self.query("#eval-progress"):
            await bar.remove()
        if message.error:
            self.notify(message.error, title="Benchmark", severity="warning", timeout=12)
            return
        from tuichat.adapters.evals import headline

        parts = []
        for task, result in message.results.items():
            score = headline(task, result)
            if score is not None:
                parts.append(f"{task} {100 * score:.1f}%{' (cached)' if result.get('cached') else ''}")
        self.notify(" · ".join(parts) or "no results", title=f"Benchmark of {clean(self.switcher.describe())}",
                    timeout=20)
