"""Evaluate one loaded model on a list of tasks: load items, score (or reuse the cache), aggregate.

A task whose files are missing or malformed yields an error entry and the other tasks still run.
Results are plain dicts (JSON-ready): metrics as fractions, MMLU also per subject and category,
question-weighted (the mean over all questions, as lm-eval's `weight_by_size`).
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import cache, scoring
from .formats import EvalDataError
from .tasks import TASKS, Item, category, load_task


@dataclass
class EvalSettings:
    data_dir: Path
    num_fewshot: int = 0
    limit: int | None = None
    batch_size: int = 8
    use_cache: bool = True
    progress: bool = True

    def key_part(self, dtype: Any) -> dict[str, Any]:
        return {"num_fewshot": self.num_fewshot, "limit": self.limit, "dtype": str(dtype)}


@dataclass
class ModelUnderTest:
    """What the runner needs from a loaded model, plus what identifies it in the cache."""

    model: Any
    tokenizer: Any
    label: str
    identity: str  # cache.model_identity: base fingerprint + weight files
    adapter_digest: str = ""
    dtype: Any = None
    info: dict[str, Any] = field(default_factory=dict)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def aggregate(task: str, items: list[Item], per_item: list[dict[str, float]]) -> dict[str, Any]:
    metrics = TASKS[task].metrics
    result: dict[str, Any] = {
        "task": task, "n": len(items),
        "metrics": {m: _mean([r[m] for r in per_item]) for m in metrics},
    }
    if any(item.subject for item in items):
        groups: dict[str, list[dict[str, float]]] = defaultdict(list)
        cats: dict[str, list[dict[str, float]]] = defaultdict(list)
        for item, r in zip(items, per_item):
            groups[item.subject].append(r)
            cat = category(task, item.subject)
            if cat:
                cats[cat].append(r)
        result["subjects"] = {s: {"n": len(rs), **{m: _mean([r[m] for r in rs]) for m in metrics}}
                              for s, rs in sorted(groups.items())}
        if cats:
            result["categories"] = {c: {"n": len(rs), **{m: _mean([r[m] for r in rs]) for m in metrics}}
                                    for c, rs in sorted(cats.items())}
    return result


def _data_files(task: str, settings: EvalSettings) -> list[Path]:
    files = []
    for split in TASKS[task].splits(settings.data_dir):
        files.append(split.eval_file)
        if settings.num_fewshot and split.shots_file is not None:
            files.append(split.shots_file)
    return files


def evaluate_task(mut: ModelUnderTest, task: str, settings: EvalSettings,
                  on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """One task's result dict, from the cache when this exact evaluation ran before. `on_batch(n)`
    hears of each scored batch; if it raises (a cancelled run), nothing is cached."""
    items = load_task(task, settings.data_dir, settings.num_fewshot, settings.limit)
    cache_key = cache.key(mut.identity, mut.adapter_digest, task, settings.key_part(mut.dtype),
                          _data_files(task, settings))
    if settings.use_cache and (hit := cache.load(cache_key)) is not None:
        return {**hit, "cached": True}
    from tqdm import tqdm

    bar = tqdm(total=len(items), desc=f"{mut.label} {task}", unit="item", disable=not settings.progress,
               file=sys.stderr, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        def advance(count: int) -> None:
            bar.update(count)
            if on_batch is not None:
                on_batch(count)

        lls = scoring.loglikelihoods(mut.model, mut.tokenizer, items, settings.batch_size, on_batch=advance)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    per_item = [scoring.item_metrics(item, ll) for item, ll in zip(items, lls)]
    result = aggregate(task, items, per_item)
    result.update(seconds=seconds, items_per_s=len(items) / seconds if seconds else 0.0,
                  loglikelihoods=lls, cache_key=cache_key)
    cache.store(cache_key, result)
    return {**result, "cached": False}


def evaluate(mut: ModelUnderTest, tasks: list[str], settings: EvalSettings) -> dict[str, Any]:
    """{task: result} for every task; a task that cannot be read gets {"error": message}."""
    out: dict[str, Any] = {}
    for task in tasks:
        try:
            out[task] = evaluate_task(mut, task, settings)
        except EvalDataError as exc:
            print(f"finetune-eval: skipping {task}: {exc}", file=sys.stderr)
            out[task] = {"task": task, "error": str(exc)}
    return out
