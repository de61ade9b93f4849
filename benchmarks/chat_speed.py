"""Chat speed on the embedded model, side by side in one run (medians):

- decode tok/s: llama.cpp itself (llama-cpp-python's create_completion) vs tuichat's llama.cpp backend,
- cold start to a usable chat (a fresh process: imports, model load, session) on the default path,
- time to first token at turn 1 as a user sees it (a chat session that warmed its KV cache while the
  user typed) beside a cold one (no warm), and at turn 1 vs turn 20 (KV prefix reuse), both backends,
- the transformers backend: its CPU default here (int4 = 4-bit layers packed, where measured faster)
  and bf16 vs plain fp32.

    .venv/bin/python benchmarks/chat_speed.py [--runs 3] [--tokens 48] [--turns 20]

Prints a Markdown table for the README. Not a test: nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tuichat.runtime.base import GenerationParams  # noqa: E402
from tuichat.runtime.models import embedded_gguf, resolve_model  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]


def greedy(tokens: int) -> GenerationParams:
    return GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=tokens)


def llama_cpp_own_tps(runtime, tokens: int) -> float:
    """llama-cpp-python's own streaming completion on the same loaded model: decode tokens/s."""
    llm = runtime.llm
    llm.reset()
    stamps = []
    for _chunk in llm.create_completion(runtime.prompt_ids(PROMPT), max_tokens=tokens, temperature=0.0,
                                        repeat_penalty=1.0, stream=True):
        stamps.append(time.perf_counter())
    llm.reset()
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def backend_tps(runtime, tokens: int) -> float:
    runtime.reset()
    return runtime.stream(PROMPT, greedy(tokens)).wait().stats.tokens_per_s


FIRST_MESSAGE = "Write a short story about a robot who learns to paint."


def chat_session(runtime, tokens: int):
    """A real ChatSession (default persona and its greeting, history in memory) on a loaded runtime."""
    from tuichat.core.config import Settings
    from tuichat.core.history import History
    from tuichat.core.session import ChatSession
    from tuichat.personas.library import PersonaLibrary

    settings = Settings(knowledge=False, temperature=0, repetition_penalty=1.0, max_new_tokens=tokens)
    return ChatSession(runtime, History(":memory:"), PersonaLibrary([]), None, settings)


def first_turn_ttft(session, mode: str) -> float:
    """TTFT of a new chat's first answer. `cold`: nothing cached, the whole prompt is prefilled;
    `prefix`: the session warmed persona + greeting, as it does when a chat opens; `draft`: the app
    also prefilled the message typed so far, here after a pause before its last word."""
    session.engine.reset()  # the last run's prompt must not be in the cache
    session.new_session()
    if mode == "draft":
        session.warm(FIRST_MESSAGE.rsplit(" ", 1)[0])
    session.engine.wait_warm(300)
    if mode == "cold":
        session.engine.reset()
    return session.send(FIRST_MESSAGE).wait().stats.ttft_s


def ttft_by_turn(session, turns: int) -> tuple[float, float, int]:
    """TTFT of turn 1 and turn `turns` of one chat, warmed between turns as in the app."""
    session.new_session()
    first = last = 0.0
    tokens = 0
    for turn in range(1, turns + 1):
        session.engine.wait_warm(300)  # the user reads the answer and types the next message
        stats = session.send(f"Turn {turn}: tell me one fact about the number {turn * 7}, "
                             "with a short explanation of why it matters.").wait().stats
        if turn == 1:
            first = stats.ttft_s
        last, tokens = stats.ttft_s, stats.prompt_tokens
    return first, last, tokens


def ttft_rows(name: str, runtime, opts) -> list[tuple[str, str]]:
    session = chat_session(runtime, 40)
    modes = ("draft", "prefix", "cold")
    runs = {mode: [] for mode in modes}
    for _ in range(opts.runs):  # alternating, so a busy machine slows each mode alike
        for mode in modes:
            runs[mode].append(first_turn_ttft(session, mode))
    first, last, n = ttft_by_turn(session, opts.turns)
    return [(f"{name} TTFT turn 1: message prefilled while typed / persona + greeting warmed / cold",
             " / ".join(f"{statistics.median(runs[mode]) * 1000:.0f} ms" for mode in modes)),
            (f"{name} TTFT turn 1 → turn {opts.turns} ({n} prompt tokens), warmed",
             f"{first * 1000:.0f} → {last * 1000:.0f} ms ({last / first:.2f}x)")]


def cold_start() -> float:
    """Seconds from launching a fresh Python to a chat session ready to answer (default model path)."""
    code = ("from tuichat.bootstrap import open_session; from tuichat.core.config import Settings; "
            "open_session(Settings(knowledge=False), progress=lambda t: None); print('ready', flush=True)")
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    elapsed = time.perf_counter() - start
    child.wait()
    return elapsed


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "?"
    return " ".join(sorted(set(re.findall(r"\b(avx2|avx512f|avx512_bf16|amx_bf16)\b", text)))) or "none of avx2/avx512/amx"


def paired(first, second, runs: int) -> tuple[list[float], list[float]]:
    a, b = [], []
    for _ in range(runs):
        a.append(first())
        b.append(second())
    return a, b


def median(fn, runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--turns", type=int, default=20)
    opts = parser.parse_args()
    from tuichat.runtime.llamacpp_backend import LlamaCppRuntime
    from tuichat.runtime.transformers_backend import Engine

    rows: list[tuple[str, str]] = []
    # Pairs run back to back, alternating, so a busy shared machine slows both sides alike.
    llama = LlamaCppRuntime.load(embedded_gguf(), n_ctx=4096)
    own, ours = paired(lambda: llama_cpp_own_tps(llama, opts.tokens), lambda: backend_tps(llama, opts.tokens), opts.runs)
    rows += [("llama.cpp itself (llama-cpp-python), decode tok/s", f"{statistics.median(own):.1f}"),
             ("tuichat llama.cpp backend, decode tok/s",
              f"{statistics.median(ours):.1f} ({statistics.median(b / a for a, b in zip(own, ours)):.2f}x llama.cpp, median of pairs)")]
    rows.append(("cold start to a ready chat (llama.cpp, fresh process)", f"{median(cold_start, opts.runs):.2f} s"))
    rows += ttft_rows("llama.cpp", llama, opts)
    del llama
    folder = str(resolve_model(None, progress=lambda _t: None))
    # fp32 and bf16 are plain weights; the default is what a user gets here (4-bit layers packed
    # where this CPU measured that faster, else the faster of fp32 and bf16).
    engines = {name: Engine.load(folder, device="cpu", dtype=dtype, progress=lambda _t: None)
               for name, dtype in (("fp32", "float32"), ("bf16", "bfloat16"), ("default", None))}
    tps: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(opts.runs):  # alternating, so a busy machine slows each alike
        for name, engine in engines.items():
            tps[name].append(backend_tps(engine, opts.tokens))
    default = engines["default"]
    label = default.loaded.precision.replace("torch.", "")
    rows += ttft_rows(f"transformers {label}", default, opts)

    def versus_fp32(name: str) -> str:
        ratio = statistics.median(b / a for a, b in zip(tps["fp32"], tps[name]))
        return f"{statistics.median(tps[name]):.1f} ({ratio:.2f}x fp32, median of pairs)"

    rows += [("transformers fp32 (the old CPU default here), decode tok/s", f"{statistics.median(tps['fp32']):.1f}"),
             ("transformers bf16, decode tok/s", versus_fp32("bf16")),
             (f"transformers default here ({label}), decode tok/s", versus_fp32("default"))]
    print(f"\nEmbedded SmolLM2-135M (Q4_1 GGUF), greedy, {opts.tokens} tokens, medians of {opts.runs}; "
          f"CPU: {cpu_flags()}, {len(os.sched_getaffinity(0))} threads; load average at the end: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
