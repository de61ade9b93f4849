"""Answer the same prompts with the base model and with adapters, for side-by-side reports.

Greedy with a fixed seed, so a comparison repeats exactly. All prompts run on one variant before
the next (one swap per variant, never a reload). Each prompt is a lone user message in the model's
chat template: no persona, no knowledge, no history, so only the weights differ.
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tuichat.errors import TuichatError


class PromptFileError(TuichatError):
    pass


@dataclass
class Comparison:
    prompts: list[str]
    variants: list[str]  # column titles: "base", then adapter names
    answers: dict[str, list[str]] = field(default_factory=dict)  # variant → answer per prompt
    seconds: dict[str, float] = field(default_factory=dict)
    model: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


def read_prompts(path: Path) -> list[str]:
    """One prompt per line (blank lines and lines starting with # skipped), or JSONL with a
    "prompt" / "instruction" / "question" field per line."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PromptFileError(f"prompts file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptFileError(f"cannot read prompts file {path}: {exc}") from None
    prompts: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if str(path).endswith(".jsonl"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PromptFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            value = next((row.get(k) for k in ("prompt", "instruction", "question") if isinstance(row, dict) and row.get(k)), None)
            if not isinstance(value, str):
                raise PromptFileError(f"{path}:{number}: needs a \"prompt\" (or \"instruction\"/\"question\") text field")
            line = value
        prompts.append(line)
    if not prompts:
        raise PromptFileError(f"prompts file {path} holds no prompt")
    return prompts


def compare(runtime: Any, switcher: Any, prompts: list[str], adapters: list[Path], params: Any,
            progress: Callable[[str], None] = lambda _t: None) -> Comparison:
    """Answers of the base and of each adapter (loaded once, by `switcher`), greedy and seeded."""
    result = Comparison(prompts, [], model=getattr(runtime, "base_name", runtime.model_name),
                        settings={k: getattr(params, k) for k in ("temperature", "max_new_tokens", "repetition_penalty", "seed")})
    for folder in [None, *adapters]:
        name = switcher.activate(folder) or "base"
        result.variants.append(name)
        start = time.perf_counter()
        answers = []
        for number, prompt in enumerate(prompts, 1):
            progress(f"{name}: prompt {number}/{len(prompts)}")
            stream = runtime.stream([{"role": "user", "content": prompt}], params).wait()
            answers.append(stream.text.strip())
        result.answers[name] = answers
        result.seconds[name] = time.perf_counter() - start
    switcher.activate(None)
    return result


def _cell(text: str) -> str:
    """Markdown table cell: pipes escaped, line breaks as <br>, nothing that could close the table."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>") or "*(empty)*"


def to_markdown(c: Comparison) -> str:
    s = c.settings
    lines = [f"# {c.model}: {' vs '.join(c.variants)}", "",
             f"*{len(c.prompts)} prompts · temperature {s['temperature']} (greedy) · seed {s['seed']} · "
             f"max {s['max_new_tokens']} new tokens · repetition penalty {s['repetition_penalty']} · "
             + " · ".join(f"{v} {c.seconds[v]:.1f} s" for v in c.variants) + "*", "",
             "| # | prompt | " + " | ".join(_cell(v) for v in c.variants) + " |",
             "|---|---|" + "---|" * len(c.variants)]
    for i, prompt in enumerate(c.prompts):
        lines.append(f"| {i + 1} | {_cell(prompt)} | " + " | ".join(_cell(c.answers[v][i]) for v in c.variants) + " |")
    return "\n".join(lines) + "\n"


def to_csv(c: Comparison) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["prompt", *c.variants])
    for i, prompt in enumerate(c.prompts):
        writer.writerow([prompt, *(c.answers[v][i] for v in c.variants)])
    return out.getvalue()
