"""One line that always says what is running: model (+ adapter), device, persona, how full the
context is, and how fast the last answer came."""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from tuichat.text_safety import visible


class StatusBar(Static):
    model = reactive("")
    device = reactive("")
    persona = reactive("")
    state = reactive("starting…")
    context_tokens: reactive[int | None] = reactive(None)
    budget: reactive[int | None] = reactive(None)
    estimated = reactive(False)  # token counts are estimates (a server that cannot count them): "≈"
    ttft_s: reactive[float | None] = reactive(None)
    tokens_per_s: reactive[float | None] = reactive(None)

    def render(self) -> Text:
        # The state goes first: on a narrow terminal the tail of the line is what gets cut.
        parts: list[tuple[str, str]] = [(self.state, "reverse" if self.state != "ready" else "dim")]
        if self.model:
            parts.append((self.model + (f" · {self.device}" if self.device else ""), "bold"))
        if self.persona:
            parts.append((f"persona {self.persona}", "italic"))
        if self.budget:
            used = "?" if self.context_tokens is None else ("≈" if self.estimated else "") + f"{self.context_tokens:,}"
            parts.append((f"{used}/{self.budget:,} tok", ""))
        if self.ttft_s is not None:
            speed = f" · {self.tokens_per_s:.1f} tok/s" if self.tokens_per_s else ""
            parts.append((f"ttft {_seconds(self.ttft_s)}{speed}", ""))
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, (text, style) in enumerate(parts):
            if i:
                line.append(" │ ", style="dim")
            line.append(visible(text), style=style)  # model and persona names come from files
        return line


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"
