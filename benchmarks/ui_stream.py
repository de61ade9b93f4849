"""What the full-screen app costs the model, and how responsive it stays while an answer streams.

Runs the same greedy answer of the embedded model (or --model) twice per round: once straight from
the chat core, once inside the headless Textual app (same factory as the CLI), and reports decode
tokens/s for both, and (in a separate run, since the probe costs a little) the app's worst event-loop
stall while streaming: a 10 ms timer's lateness, i.e. how long a keypress could wait.

    python benchmarks/ui_stream.py --tokens 64 --rounds 3 [--threads 1] [--json benchmarks/out/ui.json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "Explain in a few sentences how a list comprehension works in Python, with one example."


def build_session(model: str | None, tokens: int, backend: str | None = None):
    from tuichat.core.session import ChatSession
    from tuichat.core.config import Settings
    from tuichat.core.history import History
    from tuichat.personas.library import PersonaLibrary
    from tuichat.runtime.loader import load_runtime

    settings = Settings(temperature=0.0, max_new_tokens=tokens, knowledge=False, backend=backend)
    engine = load_runtime(model, backend=backend)
    engine.reuse_cache = False  # both paths prefill the whole prompt: a like-for-like comparison
    return ChatSession(engine, History(), PersonaLibrary(), None, settings)


def direct(session) -> float:
    session.new_session()
    return session.send(PROMPT).wait().stats.tokens_per_s


async def in_app(session, probe: bool) -> tuple[float, float]:
    """Decode speed inside the app; with `probe`, also the worst lateness of a 10 ms timer (the probe
    itself costs the decode loop a little, so speed rounds run without it)."""
    from tuichat.ui.app import make_app
    from tuichat.ui.widgets.input import PromptInput

    session.new_session()
    app = make_app(lambda progress: session, session.settings)
    stalls: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        while getattr(app.screen, "session", None) is None:
            await pilot.pause(0.02)
        screen = app.screen
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            if screen.answering:
                stalls.append(now - last - 0.01)
            last = now

        if probe:
            app.set_interval(0.01, tick)
        screen.query_one(PromptInput).insert(PROMPT)
        await pilot.press("enter")
        while screen.answering or session.last_reply is None:
            await pilot.pause(0.05)
    return session.last_reply.stats.tokens_per_s, max(stalls, default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or .gguf (default: the embedded SmolLM2)")
    parser.add_argument("--backend", default=None, choices=("transformers", "llamacpp"),
                        help="model runtime (default: as the app chooses: llama.cpp for GGUF models)")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between screen updates while streaming (default: the app's own)")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TUICHAT_HOME", tempfile.mkdtemp(prefix="tuichat-bench-"))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.interval is not None:
        from tuichat.ui import workers

        workers.STREAM_INTERVAL_S = args.interval
    session = build_session(args.model, args.tokens, args.backend)
    rows = []
    for round_no in range(args.rounds):
        plain = direct(session)
        app_speed, _ = asyncio.run(in_app(session, probe=False))
        _, stall = asyncio.run(in_app(session, probe=True))
        rows.append({"direct_tok_s": plain, "app_tok_s": app_speed, "max_stall_ms": stall * 1000})
        print(f"round {round_no + 1}: direct {plain:.1f} tok/s · in app {app_speed:.1f} tok/s · "
              f"worst UI stall {stall * 1000:.0f} ms", flush=True)
    summary = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"median: direct {summary['direct_tok_s']:.1f} tok/s · in app {summary['app_tok_s']:.1f} tok/s · "
          f"worst UI stall {summary['max_stall_ms']:.0f} ms · machine load {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rounds": rows, "median": summary, "tokens": args.tokens}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
