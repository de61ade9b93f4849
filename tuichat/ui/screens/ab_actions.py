"""The chat screen's A/B action: choose two variants, answer the last question with both side by
side (`ABScreen`), keep one or neither. A mixin of `ChatScreen`, beside `AdapterActions`.

While A/B runs, nothing else may switch adapters (`swapping`); afterwards the adapter that was
active before is active again. The kept answer replaces the shown one and the pair is stored.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from tuichat.ui.screens.model_picker import clean
from tuichat.ui.workers import describe


@dataclass
class VariantsRead(Message):
    variants: list
    preselected: tuple
    question: str
    error: str = ""


def read_ab_variants(session: Any, switcher: Any, post: Any) -> None:
    from tuichat.adapters.ab import available_variants, default_pair, last_question

    try:
        _, question = last_question(session)
        adapters = switcher.catalog(session.settings, with_deltas=False).adapters
        variants = available_variants(session, switcher, adapters)
    except Exception as exc:
        post(VariantsRead([], (), "", describe(exc)))
        return
    post(VariantsRead(variants, default_pair(variants, switcher.active_path), question))



class ABActions:
    """Mixed into ChatScreen after AdapterActions (uses its switcher, swapping and _eval_cancel)."""

    def action_ab_answers(self) -> None:
        if not self._ready():
            return
        if self.answering:
            self.notify("A/B answers the last question: wait for this answer, or press escape to stop it.",
                        severity="warning")
            return
        if self._eval_cancel is not None or self.swapping:
            self.notify("Wait for the benchmark or adapter switch to end.", severity="warning")
            return
        self._run(read_ab_variants, self.session, self.switcher, self.post_message, group="ab-setup")

    def on_variants_read(self, message: VariantsRead) -> None:
        from tuichat.ui.screens.ab_answers import ABSetupScreen

        if message.error:
            self.notify(message.error, title="A/B answers", severity="warning")
            return
        if len(message.variants) < 2:
            self.notify("A/B needs two variants: train an adapter or add a persona.", severity="warning")
            return

        def chosen(variants: list | None) -> None:
            if variants:
                self._start_ab(message.question, variants)

        self.app.push_screen(ABSetupScreen(message.variants, message.preselected, message.question), chosen)

    def _start_ab(self, question: str, variants: list) -> None:
        from tuichat.adapters.ab import run_ab
        from tuichat.ui.screens.ab_answers import ABScreen

        session, switcher = self.session, self.switcher
        self.swapping = True  # nothing else may switch adapters while A/B runs

        def answer(cancel: threading.Event, on_text: Any) -> Any:
            return run_ab(session, switcher, variants, cancel, on_text)

        self.app.push_screen(ABScreen(question, variants, answer), self._ab_closed)

    async def _ab_closed(self, result: tuple | None) -> None:
        from tuichat.adapters.ab import store_pair

        self.swapping = False
        if result is None:
            self.notify("A/B: nothing kept; the conversation is unchanged.")
            return
        run, kept = result
        try:
            store_pair(self.session, run, kept)
        except Exception as exc:
            self.notify(f"A/B: could not store the pair: {describe(exc)}", severity="error")
            return
        chosen = run.answers[kept]
        await self._show_conversation()
        self.notify(f"Kept {'AB'[kept]} ({clean(chosen.variant.label)}); both are stored as versions of the answer.")
