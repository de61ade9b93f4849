"""The before/after table in every format: Markdown (also printed), CSV, XLSX, JSON, and a PNG bar
chart of the deltas. Scores are shown as percentages, like the published leaderboards.

Rows: each task's metrics, MMLU's question-weighted average and its four categories; then a
second table of MMLU subjects sorted by delta (largest gains first, largest losses last).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    task: str
    metric: str
    before: float | None
    after: float | None
    n: int

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)


def summary_rows(before: dict[str, Any], after: dict[str, Any] | None) -> list[Row]:
    rows = []
    for task, res in before.items():
        other = (after or {}).get(task, {})
        if "error" in res or (after is not None and "error" in other):
            continue
        for metric, value in res["metrics"].items():
            label = "mmlu (weighted)" if task == "mmlu" else task
            rows.append(Row(label, metric, _pct(value), _pct(other.get("metrics", {}).get(metric)), res["n"]))
        for cat, values in res.get("categories", {}).items():
            rows.append(Row(f"{task}/{cat}", "acc", _pct(values["acc"]),
                            _pct(other.get("categories", {}).get(cat, {}).get("acc")), values["n"]))
    return rows


def subject_rows(before: dict[str, Any], after: dict[str, Any] | None, task: str = "mmlu") -> list[Row]:
    subjects = before.get(task, {}).get("subjects", {})
    other = (after or {}).get(task, {}).get("subjects", {})
    rows = [Row(s, "acc", _pct(v["acc"]), _pct(other.get(s, {}).get("acc")), v["n"]) for s, v in subjects.items()]
    return sorted(rows, key=lambda r: (-(r.delta or 0.0), r.task))


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def markdown(rows: list[Row], subjects: list[Row], labels: tuple[str, str | None], errors: dict[str, str]) -> str:
    before_label, after_label = labels
    paired = after_label is not None

    def table(head: str, body: list[Row]) -> list[str]:
        cols = [head, "metric", "n", before_label] + ([after_label, "delta"] if paired else [])
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in body:
            cells = [r.task, r.metric, str(r.n), _fmt(r.before)] + ([_fmt(r.after), _fmt(r.delta, True)] if paired else [])
            lines.append("| " + " | ".join(cells) + " |")
        return lines

    out = table("task", rows)
    if subjects:
        out += ["", "MMLU per subject" + (" (sorted by delta: gains first, losses last)" if paired else ""), ""]
        out += table("subject", subjects)
    for task, message in errors.items():
        out += ["", f"**{task} not evaluated:** {message}"]
    return "\n".join(out) + "\n"


def _records(rows: list[Row]) -> list[dict[str, Any]]:
    return [{"task": r.task, "metric": r.metric, "n": r.n, "before": r.before, "after": r.after, "delta": r.delta}
            for r in rows]


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["task", "metric", "n", "before", "after", "delta"])
        writer.writeheader()
        writer.writerows(_records(rows))


def write_xlsx(path: Path, rows: list[Row], subjects: list[Row]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    for sheet, body in ((book.active, rows), (book.create_sheet(), subjects)):
        sheet.title = "summary" if body is rows else "mmlu_subjects"
        sheet.append(["task" if body is rows else "subject", "metric", "n", "before", "after", "delta"])
        for rec in _records(body):
            sheet.append(list(rec.values()))
    book.save(path)


def write_chart(path: Path, rows: list[Row], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.delta is not None]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(shown) + 1.5))
    labels = [f"{r.task} {r.metric}" for r in shown]
    deltas = [r.delta for r in shown]
    ax.barh(labels, deltas, color=["tab:green" if d >= 0 else "tab:red" for d in deltas])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("after − before (points)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_all(out_dir: Path, before: dict[str, Any], after: dict[str, Any] | None,
              labels: tuple[str, str | None], meta: dict[str, Any]) -> str:
    """Write every format into out_dir; return the Markdown text (for the screen)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, subjects = summary_rows(before, after), subject_rows(before, after)
    errors = {t: r["error"] for res in (before, after or {}) for t, r in res.items() if "error" in r}
    text = markdown(rows, subjects, labels, errors)
    (out_dir / "results.md").write_text(text, encoding="utf-8")
    write_csv(out_dir / "results.csv", rows)
    write_csv(out_dir / "mmlu_subjects.csv", subjects)
    write_xlsx(out_dir / "results.xlsx", rows, subjects)

    def strip(res: dict[str, Any] | None) -> dict[str, Any] | None:  # per-item scores stay in the cache
        return None if res is None else {t: {k: v for k, v in r.items() if k != "loglikelihoods"} for t, r in res.items()}

    payload = {"meta": meta, "labels": list(labels), "summary": _records(rows), "mmlu_subjects": _records(subjects),
               "before": strip(before), "after": strip(after)}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    if after is not None and rows:
        write_chart(out_dir / "deltas.png", rows, f"{labels[1]} vs {labels[0]}")
    return text
