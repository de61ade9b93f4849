"""The benchmark tasks: where their files live under --data-dir, and the exact lm-eval prompts.

`load_task(name, data_dir, num_fewshot, limit)` returns `Item`s: per choice a (context,
continuation) pair built the way lm-evaluation-harness builds them — description + few-shot
examples joined by "\\n\\n", then the query; continuation = " " + choice (target delimiter). MMLU,
CMMLU and C-Eval take their shots from the dev split in order (lm-eval's `first_n`); the others
sample with `random.Random(1234)` from a shots pool, skipping the item itself.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import formats
from .formats import Doc, EvalDataError
from .subjects import CEVAL_NAME_ZH, CMMLU_NAME_ZH, MMLU_CATEGORY

FEWSHOT_SEED = 1234  # lm-eval's default fewshot_random_seed


@dataclass(frozen=True)
class Item:
    task: str
    subject: str
    row: int
    contexts: tuple[str, ...]
    continuations: tuple[str, ...]
    choice_lengths: tuple[int, ...]  # characters of each choice, lm-eval's acc_norm divisor
    gold: int


@dataclass(frozen=True)
class Split:
    """One subject's evaluation file and where its few-shot examples come from."""

    subject: str
    eval_file: Path
    shots_file: Path | None  # None: shots come from the evaluation file itself
    description: str = ""


@dataclass(frozen=True)
class TaskSpec:
    name: str
    metrics: tuple[str, ...]
    reader: Callable[[Path], list[Doc]]
    splits: Callable[[Path], list[Split]]
    shots_in_order: bool  # lm-eval's first_n sampler (else seeded random sampling)


def _arc(which: str) -> Callable[[Path], list[Split]]:
    return lambda d: [Split("", d / "arc" / f"ARC-{which}-Test.jsonl", d / "arc" / f"ARC-{which}-Dev.jsonl")]


def _single(relative: str) -> Callable[[Path], list[Split]]:
    return lambda d: [Split("", d / relative, None)]


def _per_subject(folder: str, suffix: str, describe: Callable[[str], str]) -> Callable[[Path], list[Split]]:
    eval_split = "val" if folder == "ceval" else "test"

    def splits(data_dir: Path) -> list[Split]:
        root = data_dir / folder / eval_split
        if not root.is_dir():
            raise EvalDataError(f"{root}: folder not found (see --data-dir)")
        files = sorted(root.glob(f"*{suffix.format(split=eval_split)}"))
        if not files:
            raise EvalDataError(f"{root}: no *{suffix.format(split=eval_split)} files")
        out = []
        for path in files:
            subject = path.name[: -len(suffix.format(split=eval_split))]
            shots = data_dir / folder / "dev" / (subject + suffix.format(split="dev"))
            out.append(Split(subject, path, shots, describe(subject)))
        return out

    return splits


def _mmlu_description(subject: str) -> str:
    return f"The following are multiple choice questions (with answers) about {' '.join(subject.split('_'))}.\n\n"


def _cmmlu_description(subject: str) -> str:
    return f"以下是关于{CMMLU_NAME_ZH.get(subject, subject)}的单项选择题，请直接给出正确答案的选项。\n\n"


def _ceval_description(subject: str) -> str:
    return f"以下是中国关于{CEVAL_NAME_ZH.get(subject, subject)}的单项选择题，请选出其中的正确答案。\n\n"


TASKS: dict[str, TaskSpec] = {
    "arc_easy": TaskSpec("arc_easy", ("acc", "acc_norm"), formats.read_arc, _arc("Easy"), False),
    "arc_challenge": TaskSpec("arc_challenge", ("acc", "acc_norm"), formats.read_arc, _arc("Challenge"), False),
    "boolq": TaskSpec("boolq", ("acc",), formats.read_boolq, _single("boolq/val.jsonl"), False),
    "hellaswag": TaskSpec("hellaswag", ("acc", "acc_norm"), formats.read_hellaswag, _single("hellaswag/val.jsonl"), False),
    "winogrande": TaskSpec("winogrande", ("acc",), formats.read_winogrande, _single("winogrande/dev.jsonl"), False),
    "mmlu": TaskSpec("mmlu", ("acc",), formats.read_mmlu_csv,
                     _per_subject("mmlu", "_{split}.csv", _mmlu_description), True),
    "cmmlu": TaskSpec("cmmlu", ("acc", "acc_norm"), formats.read_cmmlu_csv,
                      _per_subject("cmmlu", ".csv", _cmmlu_description), True),
    "ceval": TaskSpec("ceval", ("acc", "acc_norm"), formats.read_ceval_csv,
                      _per_subject("ceval", "_{split}.csv", _ceval_description), True),
}
DEFAULT_TASKS = ("arc_easy", "arc_challenge", "boolq", "hellaswag", "winogrande", "mmlu")


def parse_tasks(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise EvalDataError(f"unknown task(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(TASKS)}")
    return names


def example_text(doc: Doc) -> str:
    """A solved example for the few-shot prefix: query + " " + gold target."""
    if doc.partial is not None:
        return f"{doc.choices[doc.gold]} {doc.partial}"
    return f"{doc.query} {doc.choices[doc.gold]}"


def _item(task: str, subject: str, doc: Doc, prefix: str) -> Item:
    n = len(doc.choices)
    if doc.partial is not None:
        contexts = tuple(prefix + c for c in doc.choices)
        continuations = (" " + doc.partial,) * n
    else:
        contexts = (prefix + doc.query,) * n
        continuations = tuple(" " + c for c in doc.choices)
    return Item(task, subject, doc.row, contexts, continuations, tuple(len(c) for c in doc.choices), doc.gold)


def _prefixes(spec: TaskSpec, docs: list[Doc], shots: list[Doc], same_pool: bool, k: int) -> list[str]:
    if k == 0:
        return [""] * len(docs)
    if spec.shots_in_order:
        prefix = "".join(example_text(d) + "\n\n" for d in shots[:k])
        return [prefix] * len(docs)
    rnd = random.Random(FEWSHOT_SEED)
    out = []
    for doc in docs:
        # lm-eval samples one extra when shots and items share a split, then drops the item itself.
        picked = rnd.sample(shots, min(len(shots), k + 1 if same_pool else k))
        picked = [d for d in picked if not (same_pool and d.row == doc.row)][:k]
        out.append("".join(example_text(d) + "\n\n" for d in picked))
    return out


def load_task(name: str, data_dir: Path, num_fewshot: int = 0, limit: int | None = None) -> list[Item]:
    """All items of one task (per subject, the first `limit` of each). Raises EvalDataError."""
    spec = TASKS[name]
    items: list[Item] = []
    for split in spec.splits(Path(data_dir)):
        docs = spec.reader(split.eval_file)
        if not docs:
            raise EvalDataError(f"{split.eval_file}: no rows")
        shots = docs if split.shots_file is None else (spec.reader(split.shots_file) if num_fewshot else [])
        if num_fewshot and len(shots) < num_fewshot:
            raise EvalDataError(f"{split.shots_file or split.eval_file}: {len(shots)} rows, fewer than --num-fewshot {num_fewshot}")
        chosen = docs[:limit] if limit else docs
        # Shots drawn from the full pool (not the limited one), as lm-eval does.
        prefixes = _prefixes(spec, chosen, shots, split.shots_file is None, num_fewshot)
        items += [_item(name, split.subject, doc, split.description + prefix)
                  for doc, prefix in zip(chosen, prefixes)]
    return items


def category(task: str, subject: str) -> str | None:
    return MMLU_CATEGORY.get(subject) if task == "mmlu" else None
