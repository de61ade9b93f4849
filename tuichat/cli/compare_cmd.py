"""`tuichat compare --adapter runs/x prompts.txt`: the base and its adapter(s) answer the same prompts
(greedy, fixed seed); a Markdown table (stdout or --output) and a CSV beside it."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def register(subparsers) -> None:
    from tuichat.cli.args import add_model_args

    p = subparsers.add_parser(
        "compare", help="answer prompts with the base model and with adapters, side by side",
        description="Each prompt is answered by the base model and by each --adapter (greedy, fixed seed), "
                    "on one loaded base (adapters swap, nothing reloads). Writes Markdown and CSV.")
    add_model_args(p, repeat_adapter=True)
    p.add_argument("prompts", type=Path, help="text file, one prompt per line (# comments), or JSONL with a \"prompt\" field")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="Markdown file to write (a .csv with the same name goes beside it); default: Markdown on stdout")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--repetition-penalty", type=float, default=1.1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_compare)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)  # atomic


def run_compare(args: argparse.Namespace) -> int:
    from tuichat.adapters.catalog import check_adapter_folder
    from tuichat.adapters.compare import compare, read_prompts, to_csv, to_markdown
    from tuichat.adapters.switcher import AdapterSwitcher
    from tuichat.errors import TuichatError
    from tuichat.runtime.base import GenerationParams

    if not args.adapter:
        raise TuichatError("compare needs at least one --adapter FOLDER")
    prompts = read_prompts(args.prompts)
    adapters = [check_adapter_folder(a) for a in args.adapter]  # all checked before the slow load
    params = GenerationParams(temperature=0.0, max_new_tokens=args.max_new_tokens,
                              repetition_penalty=args.repetition_penalty, seed=args.seed)
    from dataclasses import replace

    from tuichat.bootstrap import open_runtime
    from tuichat.cli.args import settings_from_args

    engine = open_runtime(replace(settings_from_args(args), adapter=None), args.force_adapter)  # the base alone
    switcher = AdapterSwitcher(engine)
    result = compare(engine, switcher, prompts, adapters, params,
                     lambda text: print(f"\r{text}   ", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    markdown = to_markdown(result)
    if args.output is None:
        sys.stdout.write(markdown)
        return 0
    csv_path = args.output.with_suffix(".csv")
    _write(args.output, markdown)
    _write(csv_path, to_csv(result))
    print(f"wrote {args.output} and {csv_path}", file=sys.stderr)
    return 0
