"""Adapter features on the embedded model (transformers backend; llama.cpp swap too when installed):
live swap time base→adapter→base after the first load (median of 10), A/B (two variants one after
the other, with two swaps) vs two separate answers, and in-app evaluation items/s vs the
`finetune.eval` CLI on the same items.

    .venv/bin/python benchmarks/adapters_speed.py [--runs 10] [--tokens 48] [--items 20]

The adapter is a PEFT LoRA (r=8 on q/k/v/o) with random non-zero weights. Prints medians; numbers go
into the README. Not a test: nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from tuichat import paths  # noqa: E402

os.environ.setdefault("TUICHAT_MODEL_CACHE", str(paths.models_cache()))  # reuse the converted embedded model
os.environ["TUICHAT_HOME"] = tempfile.mkdtemp(prefix="tuichat-bench-")  # but a cold eval cache

from tuichat.adapters.switcher import AdapterSwitcher  # noqa: E402
from tuichat.runtime import models  # noqa: E402
from tuichat.runtime.base import GenerationParams  # noqa: E402

QUESTION = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]


def make_lora(base: Path, out: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(out))
    return out


def swap_times(runtime, adapter: Path, runs: int) -> tuple[float, float, list[float]]:
    switcher = AdapterSwitcher(runtime)
    start = time.perf_counter()
    switcher.activate(adapter)
    first = time.perf_counter() - start
    switcher.activate(None)
    rounds = []
    for _ in range(runs):
        start = time.perf_counter()
        switcher.activate(adapter)
        switcher.activate(None)
        rounds.append(time.perf_counter() - start)
    return first, statistics.median(rounds), rounds


def in_thread(function):
    """Run like the app does (a worker thread): torch's OpenMP pool behaves differently in the main thread."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=function()))
    thread.start()
    thread.join()
    return result["value"]


def ab_vs_two(runtime, adapter: Path, tokens: int, runs: int) -> tuple[float, float]:
    params = GenerationParams(temperature=0, max_new_tokens=tokens, repetition_penalty=1.1)
    switcher = AdapterSwitcher(runtime)
    switcher.activate(adapter)
    switcher.activate(None)

    def two_answers() -> float:  # the same model twice: what two separate answers cost
        start = time.perf_counter()
        runtime.stream(QUESTION, params).wait()
        runtime.stream(QUESTION, params).wait()
        return time.perf_counter() - start

    def ab() -> float:  # base, swap, adapter, swap back: what the A/B view does
        start = time.perf_counter()
        switcher.activate(None)
        runtime.stream(QUESTION, params).wait()
        switcher.activate(adapter)
        runtime.stream(QUESTION, params).wait()
        switcher.activate(None)
        return time.perf_counter() - start

    return (statistics.median(in_thread(two_answers) for _ in range(runs)),
            statistics.median(in_thread(ab) for _ in range(runs)))


def scored_rate(results: dict) -> float:
    """Items per second of scoring alone, over all tasks."""
    return sum(r["n"] for r in results.values()) / sum(r["n"] / r["items_per_s"] for r in results.values())


def eval_speeds(model_dir: Path, data_dir: Path, items: int) -> tuple[float, float, float]:
    """Scoring items/s of the in-app path (adapters.evals on the loaded engine) and of the CLI on the
    same items, each cold (separate caches); and the CLI's items/s over its whole run."""
    import json
    from tuichat.adapters.evals import EvalPlan, run_quick_eval
    from tuichat.runtime.transformers_backend import Engine

    engine = Engine.load(str(model_dir))
    plan = EvalPlan(("arc_easy", "boolq", "hellaswag"), items, data_dir)
    app = in_thread(lambda: run_quick_eval(engine, None, plan, threading.Event(), lambda *_: None))
    env = {**os.environ, "TUICHAT_HOME": tempfile.mkdtemp(prefix="tuichat-bench-cli-")}
    out = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "finetune.eval", "--model", str(model_dir), "--tasks", "arc_easy,boolq,hellaswag",
                    "--limit", str(items), "--data-dir", str(data_dir), "--quiet", "--output", str(out)],
                   check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start  # the CLI's start-up and model load included
    cli = json.loads((out / "results.json").read_text())
    cli = cli.get("before", cli)
    return scored_rate(app), scored_rate(cli), sum(r["n"] for r in app.values()) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    from tuichat.runtime.transformers_backend import Engine

    model_dir = models.resolve_model(None, progress=lambda _t: None)
    adapter = make_lora(model_dir, Path(tempfile.mkdtemp()) / "bench-lora")
    flags = sorted(set(f for f in Path("/proc/cpuinfo").read_text().split() if f in ("avx2", "avx512_bf16", "amx_bf16")))
    print(f"CPU flags: {' '.join(flags)}; embedded SmolLM2-135M-Instruct; LoRA r=8 on q/k/v/o")

    engine = Engine.load(str(model_dir))
    first, median, _ = swap_times(engine, adapter, args.runs)
    print(f"transformers ({engine.dtype}): first load {first * 1000:.0f} ms; base→adapter→base median of "
          f"{args.runs}: {median * 1000:.2f} ms")
    two, ab = ab_vs_two(engine, adapter, args.tokens, max(3, args.runs // 3))
    print(f"transformers: two separate answers ({args.tokens} tokens each) {two:.2f} s; A/B base vs adapter {ab:.2f} s "
          f"({ab / two:.2f}x)")
    try:
        from tuichat.runtime.loader import load_runtime

        llama = load_runtime(None, backend="llamacpp", progress=lambda _t: None)
        first, median, _ = swap_times(llama, adapter, args.runs)
        print(f"llama.cpp: first load (converts the LoRA once) {first * 1000:.0f} ms; base→adapter→base median of "
              f"{args.runs}: {median * 1000:.2f} ms")
        two, ab = ab_vs_two(llama, adapter, args.tokens, max(3, args.runs // 3))
        print(f"llama.cpp: two separate answers {two:.2f} s; A/B base vs adapter {ab:.2f} s ({ab / two:.2f}x)")
    except Exception as exc:  # not installed here: the transformers numbers stand alone
        print(f"llama.cpp: skipped ({type(exc).__name__}: {exc})")
    if args.data_dir.is_dir():
        app, cli, wall = eval_speeds(model_dir, args.data_dir, args.items)
        print(f"eval {args.items} items each of arc_easy, boolq, hellaswag, scoring: in-app {app:.1f} items/s, "
              f"finetune.eval CLI {cli:.1f} items/s; CLI wall clock with start-up and load {wall:.1f} items/s")


if __name__ == "__main__":
    main()
