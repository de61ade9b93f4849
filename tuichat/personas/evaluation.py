"""Persona evaluation: does the model stay in character?

Each prompt of a prompt set is answered twice, with the persona (its system prompt and example
exchanges) and without it (the bare user message), with the same generation settings. A reply "hits"
when it contains at least one of the persona's keywords. We report, per prompt and overall, the hit
rate (share of replies with ≥ 1 keyword) and the mean number of distinct keywords per reply.
Distinct, not occurrences, so a degenerate "喵喵喵喵…" reply does not inflate the mean.

The arithmetic (matching, summarising, table) is pure and model-free; `run_eval` is the only part
that needs a model goes through `answer(prompt, with_persona) -> text` — in the CLI a chat session's
`answer_alone`, so the prompt measured is the prompt a user's chat sends.
"""
from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from tuichat import paths
from tuichat.errors import PersonaError
from tuichat.personas.persona_file import Persona

DEFAULT_PROMPTS = "eval_prompts.jsonl"
PROMPT_KEYS = {"id", "prompt", "kind", "language"}


@dataclass(frozen=True)
class EvalPrompt:
    id: str
    prompt: str
    kind: str = ""  # e.g. "chat" or "knowledge"
    language: str = ""


@dataclass
class EvalRow:
    prompt: EvalPrompt
    with_reply: str
    without_reply: str
    with_keywords: list[str]
    without_keywords: list[str]


@dataclass(frozen=True)
class EvalSummary:
    prompts: int
    hit_rate_with: float
    hit_rate_without: float
    mean_keywords_with: float
    mean_keywords_without: float


@dataclass
class EvalResult:
    persona: str
    model: str
    params: dict
    rows: list[EvalRow]
    summary: EvalSummary = field(init=False)

    def __post_init__(self) -> None:
        self.summary = summarize(self.rows)


# -- prompt sets -----------------------------------------------------------------------------------
def default_prompts_file() -> Path:
    return paths.bundled_personas_dir() / DEFAULT_PROMPTS


def load_prompts(path: Path) -> list[EvalPrompt]:
    """A JSONL prompt set: one {"prompt": ..., "id"?, "kind"?, "language"?} object per line."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise PersonaError(f"{path}: cannot read the prompt set: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PersonaError(f"{path}: the prompt set is not UTF-8 text") from None
    prompts: list[EvalPrompt] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PersonaError(f"{path}:{n}: not a JSON object ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str) or not item["prompt"].strip():
            raise PersonaError(f"{path}:{n}: each line needs a non-empty \"prompt\" string")
        unknown = set(item) - PROMPT_KEYS
        if unknown:
            raise PersonaError(f"{path}:{n}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(PROMPT_KEYS))})")
        prompts.append(EvalPrompt(
            id=str(item.get("id", len(prompts) + 1)), prompt=item["prompt"].strip(),
            kind=str(item.get("kind", "")), language=str(item.get("language", "")),
        ))
    if not prompts:
        raise PersonaError(f"{path}: the prompt set has no prompts")
    return prompts


# -- the metric ------------------------------------------------------------------------------------
def _pattern(keyword: str) -> re.Pattern:
    # Latin keywords must start a word ("tail" in "tails" counts, in "details" it does not);
    # CJK keywords are matched anywhere (Chinese has no spaces between words).
    guard = r"(?<![^\W\d_])" if keyword[:1].isascii() and keyword[:1].isalpha() else ""
    return re.compile(guard + re.escape(keyword), re.IGNORECASE)


def keywords_found(text: str, keywords: Sequence[str]) -> list[str]:
    """The distinct keywords that occur in `text`, in the order of `keywords`."""
    return [k for k in dict.fromkeys(keywords) if k and _pattern(k).search(text)]


def summarize(rows: Sequence[EvalRow]) -> EvalSummary:
    n = len(rows)
    if n == 0:
        return EvalSummary(0, 0.0, 0.0, 0.0, 0.0)
    return EvalSummary(
        prompts=n,
        hit_rate_with=sum(1 for r in rows if r.with_keywords) / n,
        hit_rate_without=sum(1 for r in rows if r.without_keywords) / n,
        mean_keywords_with=sum(len(r.with_keywords) for r in rows) / n,
        mean_keywords_without=sum(len(r.without_keywords) for r in rows) / n,
    )


def summarize_groups(rows: Sequence[EvalRow]) -> dict[str, EvalSummary]:
    """Summaries per prompt kind and per language ("kind=knowledge", "language=zh", …): staying in
    character on knowledge questions is the hard part, so it gets its own line."""
    groups: dict[str, list[EvalRow]] = {}
    for r in rows:
        for field_name in ("kind", "language"):
            value = getattr(r.prompt, field_name)
            if value:
                groups.setdefault(f"{field_name}={value}", []).append(r)
    return {name: summarize(members) for name, members in sorted(groups.items())}


def make_row(prompt: EvalPrompt, with_reply: str, without_reply: str, keywords: Sequence[str]) -> EvalRow:
    return EvalRow(prompt, with_reply, without_reply, keywords_found(with_reply, keywords), keywords_found(without_reply, keywords))


# -- running ---------------------------------------------------------------------------------------
Answer = Callable[[str, bool], str]  # (prompt, with the persona?) -> the reply


def run_eval(
    answer: Answer, persona: Persona, prompts: Sequence[EvalPrompt], params: Any,
    progress: Callable[[str], None] | None = None, model: str = "?",
) -> EvalResult:
    """Answer every prompt with and without `persona`; `params` (a GenerationParams) is reported."""
    if not persona.keywords:
        raise PersonaError(f"persona '{persona.name}' has no keywords to look for; add `keywords: [...]` to {persona.source}")
    replies: dict[str, list[str]] = {"with": [], "without": []}
    # All "with" answers first: they share the persona prefix, which the engine's cache reuses.
    for arm, with_persona in (("with", True), ("without", False)):
        for i, p in enumerate(prompts, 1):
            text = answer(p.prompt, with_persona)
            replies[arm].append(text.strip())
            if progress:
                progress(f"[{arm} persona {i}/{len(prompts)}] {p.prompt[:40]!r} → {text.strip()[:60]!r}")
    rows = [make_row(p, w, wo, persona.keywords) for p, w, wo in zip(prompts, replies["with"], replies["without"])]
    return EvalResult(persona.name, model, _params_dict(params), rows)


def _params_dict(params: Any) -> dict:
    try:
        return asdict(params)
    except TypeError:
        return dict(vars(params))


# -- output ----------------------------------------------------------------------------------------
def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    if display_width(text) <= width:
        return text
    out = ""
    for c in text:
        if display_width(out + c) > width - 1:
            break
        out += c
    return out + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def format_table(result: EvalResult, prompt_width: int = 32) -> str:
    """A Markdown table, one row per prompt, then the overall numbers."""
    header = ["#", "kind", "lang", "prompt", "with persona", "without"]
    body = []
    for r in result.rows:
        cells = [r.prompt.id, r.prompt.kind, r.prompt.language, _clip(r.prompt.prompt, prompt_width)]
        for found in (r.with_keywords, r.without_keywords):
            cells.append(f"{len(found)} " + (_clip(",".join(found), 24) if found else "-"))
        body.append(cells)
    widths = [max(display_width(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["| " + " | ".join(_pad(c, w) for c, w in zip(row, widths)) + " |" for row in [header, *body]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    s = result.summary
    lines += [
        "",
        f"persona: {result.persona}   model: {result.model}   prompts: {s.prompts}",
        f"keyword hit rate       with persona {s.hit_rate_with:6.1%}   without {s.hit_rate_without:6.1%}",
        f"mean keywords / reply  with persona {s.mean_keywords_with:6.2f}   without {s.mean_keywords_without:6.2f}",
    ]
    groups = summarize_groups(result.rows)
    if len(groups) > 1:
        lines.append("hit rate by group (with / without persona):")
        lines += [f"  {name:<20} {g.hit_rate_with:6.1%} / {g.hit_rate_without:6.1%}   ({g.prompts} prompts)"
                  for name, g in groups.items()]
    return "\n".join(lines)


def write_csv(result: EvalResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "kind", "language", "prompt", "with_hits", "with_keywords", "with_reply",
                    "without_hits", "without_keywords", "without_reply"])
        for r in result.rows:
            w.writerow([r.prompt.id, r.prompt.kind, r.prompt.language, r.prompt.prompt,
                        len(r.with_keywords), " ".join(r.with_keywords), r.with_reply,
                        len(r.without_keywords), " ".join(r.without_keywords), r.without_reply])


def to_json(result: EvalResult) -> dict:
    return {
        "persona": result.persona, "model": result.model, "params": result.params,
        "summary": asdict(result.summary),
        "groups": {name: asdict(g) for name, g in summarize_groups(result.rows).items()},
        "rows": [{**asdict(r.prompt), "with_reply": r.with_reply, "with_keywords": r.with_keywords,
                  "without_reply": r.without_reply, "without_keywords": r.without_keywords} for r in result.rows],
    }


def write_json(result: EvalResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(result), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
