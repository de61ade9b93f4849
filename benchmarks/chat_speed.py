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
import json
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
    """TTFT of a new chat's first answer. `cold`: nothing cached in memory or on disk, the whole
    prompt is prefilled; `disk`: the cache dropped, persona + greeting read back from disk (as a
    new process does; llama.cpp only); `prefix`: the session warmed persona + greeting, as it does
    when a chat opens; `draft`: the app also prefilled the message typed so far, here after a pause
    before its last word."""
    engine = session.engine
    engine.reset()  # the last run's prompt must not be in the cache
    session.new_session()
    if mode == "draft":
        session.warm(FIRST_MESSAGE.rsplit(" ", 1)[0])
    engine.wait_warm(300)
    if mode in ("cold", "disk"):
        engine.reset()
    on_disk = getattr(engine, "keep_prefixes_on_disk", None)
    if mode == "cold" and on_disk is not None:
        engine.keep_prefixes_on_disk = False
    try:
        return session.send(FIRST_MESSAGE).wait().stats.ttft_s
    finally:
        if on_disk is not None:
            engine.keep_prefixes_on_disk = on_disk


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
    modes = ("draft", "prefix", "disk", "cold") if hasattr(runtime, "keep_prefixes_on_disk") else ("draft", "prefix", "cold")
    runs = {mode: [] for mode in modes}
    for _ in range(opts.runs):  # alternating, so a busy machine slows each mode alike
        for mode in modes:
            runs[mode].append(first_turn_ttft(session, mode))
    chats = [ttft_by_turn(session, opts.turns) for _ in range(opts.runs)]
    first, last = (statistics.median(chat[i] for chat in chats) for i in (0, 1))
    ratio, n = statistics.median(chat[1] / chat[0] for chat in chats), chats[0][2]
    labels = {"draft": "message prefilled while typed", "prefix": "persona + greeting warmed",
              "disk": "persona + greeting read from disk", "cold": "cold"}
    return [(f"{name} TTFT turn 1: {' / '.join(labels[mode] for mode in modes)}",
             " / ".join(f"{statistics.median(runs[mode]) * 1000:.0f} ms" for mode in modes)),
            (f"{name} TTFT turn 1 → turn {opts.turns} ({n} prompt tokens), warmed between turns; {opts.runs} chats",
             f"{first * 1000:.0f} → {last * 1000:.0f} ms ({ratio:.2f}x, median of the chats' ratios)")]


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


def fresh_process_first_token(home: str) -> tuple[float, float]:
    """(seconds from launching a fresh Python to a ready chat, seconds from sending the first
    message to its first streamed text), as a user sees them: the send waits for the chat's opening
    warm, which prefills persona + greeting or reads them from disk under `home` (TUICHAT_HOME)."""
    code = ("import json, time; t0 = time.perf_counter()\n"
            "from tuichat.bootstrap import open_session; from tuichat.core.config import Settings\n"
            "s = open_session(Settings(knowledge=False, temperature=0, max_new_tokens=8), progress=lambda t: None)\n"
            "t1 = time.perf_counter(); reply = s.send(%r)\n"
            "next(d for d in reply.stream if d); t2 = time.perf_counter(); reply.wait()\n"
            "print(json.dumps([t1 - t0, t2 - t1]))\n" % FIRST_MESSAGE)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TUICHAT_HOME": home})
    ready, first = json.loads(out.stdout.strip().splitlines()[-1])
    return ready, first


def fresh_process_rows(runs: int) -> list[tuple[str, str]]:
    """Fresh processes in a new home: the very first (nothing on disk), then later ones."""
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        first = fresh_process_first_token(home)
        later = [fresh_process_first_token(home) for _ in range(runs)]
    return [("fresh process, first ever (nothing on disk): start → ready chat / send → first token",
             f"{first[0]:.2f} s / {first[1] * 1000:.0f} ms"),
            ("fresh process, later (chat start read from disk): start → ready chat / send → first token",
             f"{statistics.median(r for r, _ in later):.2f} s / {statistics.median(f for _, f in later) * 1000:.0f} ms")]


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
    rows += fresh_process_rows(opts.runs)
    folder = str(resolve_model(None, progress=lambda _t: None))
    # fp32 and bf16 are plain weights; the default is what a user gets here (4-bit layers packed
    # where this CPU measured that faster, else the faster of fp32 and bf16).
    engines = {name: Engine.load(folder, device="cpu", dtype=dtype, progress=lambda _t: None)
               for name, dtype in (("fp32, forward", "float32"), ("fp32", "float32"), ("bf16", "bfloat16"),
                                   ("default", None))}
    engines["fp32, forward"]._lean_step = None  # the path when the runtime issue was filed
    tps: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(opts.runs):  # alternating, so a busy machine slows each alike
        for name, engine in engines.items():
            tps[name].append(backend_tps(engine, opts.tokens))
    default = engines["default"]
    label = default.loaded.precision.replace("torch.", "")
    rows += ttft_rows(f"transformers {label}", default, opts)

    def versus_fp32(name: str) -> str:
        ratio = statistics.median(b / a for a, b in zip(tps["fp32, forward"], tps[name]))
        return f"{statistics.median(tps[name]):.1f} ({ratio:.2f}x the old fp32 path, median of pairs)"

    rows += [("transformers fp32 through the model's own forward (the old CPU default here), decode tok/s",
              f"{statistics.median(tps['fp32, forward']):.1f}"),
             ("transformers fp32, lean one-token steps, decode tok/s", versus_fp32("fp32")),
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
