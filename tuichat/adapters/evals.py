"""Benchmarks from inside the app, through `finetune.eval`'s own code and cache.

`run_quick_eval` scores the active model + adapter on a few tasks (default: the first 100 items of
ARC-Easy, BoolQ and HellaSwag) with exactly the settings, cache identity and cache key that
`python -m finetune.eval --limit 100` uses, so neither ever scores what the other already did. It
reports progress per batch and stops at the next batch when cancelled; a cancelled task caches
nothing (the cache is written only when a task completes). `deltas` reads the cache to show each
adapter's change against the base in the picker. Heavy imports stay inside the functions.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tuichat.errors import TuichatError

QUICK_TASKS = ("arc_easy", "boolq", "hellaswag")
QUICK_LIMIT = 100
HEADLINE = {"hellaswag": "acc_norm"}  # the metric shown per task (lm-eval's usual choice); else acc


class EvalCancelled(TuichatError):
    pass


@dataclass(frozen=True)
class EvalPlan:
    tasks: tuple[str, ...] = QUICK_TASKS
    limit: int | None = QUICK_LIMIT
    data_dir: Path | None = None  # default: ../shared/data next to the checkout, as finetune.eval
    num_fewshot: int = 0
    batch_size: int = 8

    def settings(self) -> Any:
        from finetune.eval.__main__ import default_data_dir
        from finetune.eval.formats import EvalDataError
        from finetune.eval.runner import EvalSettings

        data_dir = self.data_dir or default_data_dir()
        if data_dir is None or not Path(data_dir).is_dir():
            raise EvalDataError("no benchmark data folder found: put the data under ../shared/data or choose a folder")
        return EvalSettings(Path(data_dir), self.num_fewshot, self.limit, self.batch_size, use_cache=True, progress=False)

    def total_items(self) -> int:
        from finetune.eval.tasks import load_task

        settings = self.settings()
        return sum(len(load_task(t, settings.data_dir, self.num_fewshot, self.limit)) for t in self.tasks)


def known_tasks() -> tuple[str, ...]:
    from finetune.eval.tasks import TASKS

    return tuple(TASKS)


def headline(task: str, result: dict[str, Any]) -> float | None:
    metrics = result.get("metrics") or {}
    value = metrics.get(HEADLINE.get(task, "acc"), metrics.get("acc"))
    return float(value) if isinstance(value, (int, float)) else None


_SCORING_COPY: dict[tuple[str, str], Any] = {}  # (GGUF, adapter) -> transformers copy, the last one only


def _scoring_copy(gguf: Path, adapter_path: Path | None) -> Any:
    """A transformers copy of a GGUF that llama.cpp runs: scoring needs the full logits of every
    position, and lm-eval's numbers come from the transformers forward pass. It is exactly what
    `finetune.eval --model FILE.gguf` loads (converted once into the user cache), so both use one
    cache key. Kept for the next evaluation of the same model + adapter."""
    from tuichat.runtime import models

    key = (str(gguf), str(adapter_path or ""))
    if key not in _SCORING_COPY:
        _SCORING_COPY.clear()  # one copy in memory at a time
        _SCORING_COPY[key] = models.load(str(gguf), str(adapter_path) if adapter_path else None)
    return _SCORING_COPY[key]


def _gguf_of(runtime: Any) -> Path | None:
    path = getattr(runtime, "path", None)
    return Path(path) if path is not None and str(path).lower().endswith(".gguf") else None


def model_under_test(runtime: Any, adapter_path: Path | None) -> Any:
    """finetune.eval's ModelUnderTest for what the runtime has active: the transformers backend's
    own model, or for a GGUF on llama.cpp a transformers copy of it (+ the same adapter)."""
    from finetune.eval.cache import folder_digest, model_identity
    from finetune.eval.runner import ModelUnderTest

    loaded = getattr(runtime, "loaded", None)
    model = getattr(runtime, "model", None)
    if loaded is None and _gguf_of(runtime) is not None:
        loaded = _scoring_copy(_gguf_of(runtime), adapter_path)
        model = loaded.model
    if loaded is None:
        raise TuichatError(f"benchmarks need the model's weights; this model runs on {runtime.backend}")
    return ModelUnderTest(model, loaded.tokenizer, runtime.model_name, model_identity(loaded),
                          folder_digest(adapter_path) if adapter_path else "", loaded.precision)


def _base_identity(runtime: Any) -> tuple[str, Any] | None:
    """(cache identity, dtype) of the runtime's base model without loading a scoring copy: a GGUF
    that was never converted has never been scored, so it has no cached results (None)."""
    from finetune.eval.cache import model_identity, weights_digest

    loaded = getattr(runtime, "loaded", None)
    if loaded is not None:
        return model_identity(loaded), loaded.precision
    gguf = _gguf_of(runtime)
    if gguf is None:
        return None
    from tuichat import paths
    from tuichat.runtime import gguf_files, models

    folder = paths.models_cache() / models.converted_folder_name(gguf)
    if not models.is_model_folder(folder):
        return None
    fingerprint = gguf_files.embedding_fingerprint(gguf_files.read_header(gguf))
    return f"{fingerprint}-{weights_digest(folder)[:16]}", models.pick_dtype(models.pick_device(None))


def run_quick_eval(runtime: Any, adapter_path: Path | None, plan: EvalPlan, cancel: threading.Event,
                   progress: Callable[[int, int, str], None]) -> dict[str, Any]:
    """{task: result} like finetune.eval's `evaluate`; `progress(done, total, task)` after each batch.
    Raises EvalCancelled at the first batch after `cancel` is set (that task caches nothing)."""
    from finetune.eval.runner import evaluate_task

    settings = plan.settings()
    total = plan.total_items()
    mut = model_under_test(runtime, adapter_path)
    done = 0
    results: dict[str, Any] = {}
    for task in plan.tasks:
        if cancel.is_set():
            raise EvalCancelled("evaluation cancelled; finished tasks stay cached, the unfinished one is not")

        def advance(count: int, task: str = task) -> None:
            nonlocal done
            done += count
            progress(done, total, task)
            if cancel.is_set():
                raise EvalCancelled("evaluation cancelled; finished tasks stay cached, the unfinished one is not")

        results[task] = evaluate_task(mut, task, settings, on_batch=advance)
        if results[task].get("cached"):
            done += results[task]["n"]
            progress(done, total, task)
    return results


def deltas(runtime: Any, adapter_paths: dict[str, Path], plan: EvalPlan = EvalPlan()) -> dict[str, dict[str, float]]:
    """{adapter name: {task: points vs base}} from the cache, for tasks where both were scored."""
    from finetune.eval import cache
    from finetune.eval.cache import folder_digest
    from finetune.eval.runner import _data_files

    try:
        settings = plan.settings()
        base = _base_identity(runtime)
    except (TuichatError, OSError):
        return {}
    if base is None:
        return {}
    identity, dtype = base
    part = settings.key_part(dtype)
    out: dict[str, dict[str, float]] = {}
    for task in plan.tasks:
        try:
            files = _data_files(task, settings)
            before = cache.load(cache.key(identity, "", task, part, files))
        except OSError:
            continue
        if before is None or headline(task, before) is None:
            continue
        for name, path in adapter_paths.items():
            try:
                after = cache.load(cache.key(identity, folder_digest(path), task, part, files))
            except OSError:  # the folder vanished meanwhile: no delta to show
                continue
            if after is not None and headline(task, after) is not None:
                out.setdefault(name, {})[task] = 100.0 * (headline(task, after) - headline(task, before))
    return out
