"""`python -m finetune.eval` / `finetune-eval`: benchmark a model, or a base before and after its
adapter, the way lm-evaluation-harness scores them.

    python -m finetune.eval --tasks arc_easy,boolq,mmlu --limit 50            # embedded model
    python -m finetune.eval --model BASE --adapter runs/x --tasks arc_easy,arc_challenge,boolq,\\
        hellaswag,winogrande,mmlu --output runs/x/eval                        # before/after table

With --adapter, the base is evaluated first (reused from the cache when the base, the data and the
settings are unchanged), then base + adapter; the table has before, after and delta columns.
Exit status: 0 all tasks ran, 1 some task was skipped (bad or missing file), 2 usage/model error.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tuichat.errors import TuichatError

TASK_NAMES = "arc_easy, arc_challenge, boolq, hellaswag, winogrande, mmlu, cmmlu, ceval"


def default_data_dir() -> Path | None:
    from tuichat.paths import project_root

    candidate = project_root().parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The model to score (loaded with transformers: log-likelihoods need the model's logits)."""
    g = parser.add_argument_group("model")
    g.add_argument("--model", default=None, help="Hugging Face model folder or .gguf file (default: embedded SmolLM2-135M-Instruct)")
    g.add_argument("--adapter", default=None, help="PEFT LoRA adapter folder, e.g. one written by `finetune`")
    g.add_argument("--force-adapter", action="store_true", help="apply the adapter even if it was made for another base model")
    g.add_argument("--load-in-4bit", action="store_true", help="load the model 4-bit (NF4) through bitsandbytes")
    g.add_argument("--device", default=None, help="cuda, cpu, … (default: cuda when present)")
    g.add_argument("--dtype", default=None, help="float32, bfloat16 or float16")


def build_parser() -> argparse.ArgumentParser:
    intro, examples = __doc__.split("\n\n", 2)[:2]
    parser = argparse.ArgumentParser(prog="finetune-eval", description=intro, epilog="examples:\n" + examples,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(parser)
    parser.add_argument("--tasks", default="arc_easy,arc_challenge,boolq,hellaswag,winogrande,mmlu",
                        help=f"comma-separated, from: {TASK_NAMES}")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with arc/, boolq/, hellaswag/, winogrande/, mmlu/, cmmlu/, ceval/ in their "
                             "public formats (default: ../shared/data next to the checkout, when present)")
    parser.add_argument("--num-fewshot", type=int, default=0, help="examples before each question (MMLU: from dev, in order)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items of each task (of each subject for MMLU/CMMLU/C-Eval)")
    parser.add_argument("--batch-size", type=int, default=8, help="items per forward pass (all choices of an item share one row)")
    parser.add_argument("--output", type=Path, default=None, help="folder for results.{md,csv,xlsx,json} and deltas.png (default: runs/eval/<time>)")
    parser.add_argument("--no-cache", action="store_true", help="score again even when a cached result matches")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _check_args(args: argparse.Namespace) -> None:
    from .formats import EvalDataError

    if args.data_dir is None:
        args.data_dir = default_data_dir()
        if args.data_dir is None:
            raise EvalDataError("no --data-dir given and ../shared/data not found; pass the folder holding the benchmark files")
    if not args.data_dir.is_dir():
        raise EvalDataError(f"--data-dir {args.data_dir} is not a folder")
    if args.num_fewshot < 0 or (args.limit is not None and args.limit < 1) or args.batch_size < 1:
        raise EvalDataError("--num-fewshot must be ≥ 0, --limit and --batch-size ≥ 1")


def _load(args: argparse.Namespace, adapter: str | None, identity: str | None = None):
    from tuichat.runtime import models

    from .cache import folder_digest, model_identity
    from .runner import ModelUnderTest

    loaded = models.load(args.model, adapter, device=args.device, dtype=args.dtype, load_in_4bit=args.load_in_4bit,
                         force_adapter=args.force_adapter, progress=lambda t: print(t, file=sys.stderr))
    label = loaded.name + (f" + {loaded.adapter}" if adapter else "")
    return ModelUnderTest(loaded.model, loaded.tokenizer, label,
                          identity or model_identity(loaded),
                          folder_digest(Path(adapter)) if adapter else "", loaded.dtype,
                          {"model": loaded.name, "folder": str(loaded.folder), "adapter": adapter,
                           "device": loaded.device, "dtype": str(loaded.dtype)})


def run(args: argparse.Namespace) -> int:
    from . import report
    from .runner import EvalSettings, evaluate
    from .tasks import parse_tasks

    _check_args(args)
    tasks = parse_tasks(args.tasks)
    settings = EvalSettings(args.data_dir, args.num_fewshot, args.limit, args.batch_size,
                            use_cache=not args.no_cache, progress=not args.quiet)
    base = _load(args, None)
    before = evaluate(base, tasks, settings)
    if all("error" in r for r in before.values()):
        from .formats import EvalDataError

        raise EvalDataError(f"every task was skipped ({', '.join(tasks)}), so no result files were written; "
                            f"check --data-dir {args.data_dir}")
    after, after_info = None, None
    if args.adapter:
        identity = base.identity  # the adapter's run is keyed by the base it was applied to
        del base  # free the base's memory before the second load
        tuned = _load(args, args.adapter, identity)
        after, after_info = evaluate(tuned, tasks, settings), tuned.info
        labels = ("before", "after")
    else:
        labels = (base.info["model"], None)
    out_dir = args.output or Path("runs") / "eval" / time.strftime("%Y%m%d-%H%M%S")
    meta = {"tasks": tasks, "data_dir": str(args.data_dir), "num_fewshot": args.num_fewshot, "limit": args.limit,
            "batch_size": args.batch_size, "after_model": after_info}
    text = report.write_all(out_dir, before, after, labels, meta)
    print(text)
    for name, res in (("before", before), ("after", after or {})):
        for task, r in res.items():
            if "items_per_s" in r:
                source = "cached" if r.get("cached") else "scored"
                print(f"{name} {task}: {r['n']} items, {r['items_per_s']:.1f} items/s ({source})", file=sys.stderr)
    print(f"written to {out_dir}/ (results.md, .csv, .xlsx, .json{', deltas.png' if after else ''})", file=sys.stderr)
    return 1 if any("error" in r for res in (before, after or {}) for r in res.values()) else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except TuichatError as exc:
        print(f"finetune-eval: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
