"""The client's overhead: the same GGUF through llama-cpp-python's OpenAI-compatible server (with
tuichat's `--backend openai` client) vs tuichat's in-process llama.cpp backend, and the time from
a cancel to the server being free again.

    .venv/bin/python benchmarks/server_speed.py [--runs 5] [--tokens 64]

Both sides use the same file, thread count (the CPUs this process may use), context and llama.cpp
settings (extra weight buffers off, passive OpenMP waiting: scripts/llama_server.py). Each run asks
a new question (so neither side reuses a whole cached prompt) and runs alternate between the two
sides, so load on a shared machine hits both alike; medians are printed. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from tuichat.runtime.base import GenerationParams  # noqa: E402
from tuichat.runtime.llamacpp_backend import LlamaCppRuntime, _threads  # noqa: E402
from tuichat.runtime.models import embedded_gguf  # noqa: E402
from tuichat.runtime.openai_backend import OpenAIRuntime  # noqa: E402

GREEDY = dict(temperature=0.0, repetition_penalty=1.0)


def question(run: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Story {run}: write a short story about a robot who learns to paint."}]


LONG = [{"role": "user", "content": "Write a very long story about a dragon, a cat and a lighthouse."}]


def start_server(gguf: str, threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {"host": "127.0.0.1", "port": port,
              "models": [{"model": gguf, "model_alias": "smol", "n_ctx": 2048, "n_threads": threads,
                          "n_threads_batch": threads, "verbose": False}]}
    path = Path(tempfile.mkdtemp()) / "server.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "llama_server.py"), "--config_file", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the llama.cpp server did not start")


def answer(runtime, run: int, tokens: int) -> tuple[float, float]:
    """(TTFT s, decode tok/s) of one streamed greedy answer, as AnswerStats counts them."""
    stats = runtime.stream(question(run), GenerationParams(max_new_tokens=tokens, **GREEDY)).wait().stats
    return stats.ttft_s, stats.tokens_per_s


def one_token_s(url: str) -> float:
    start = time.perf_counter()
    httpx.post(url + "/chat/completions", json={"model": "smol", "messages": [{"role": "user", "content": "Hi"}],
                                                "max_tokens": 1, "temperature": 0}, timeout=120).raise_for_status()
    return time.perf_counter() - start


def cancel_to_free(rt: OpenAIRuntime, url: str, after: int) -> tuple[float, float]:
    """(s from cancel to the client's stream closed, s from cancel to the server answering the next
    request, minus that request's own time when the server is idle)."""
    idle = one_token_s(url)
    stream = rt.stream(LONG, GenerationParams(temperature=0.8, max_new_tokens=1000, seed=1))
    seen = 0
    for _ in stream:
        seen += 1
        if seen == after:
            cancelled = time.perf_counter()
            stream.cancel()
    closed = time.perf_counter() - cancelled
    one_token_s(url)  # queued behind the cancelled answer until the server has stopped it
    return closed, (time.perf_counter() - cancelled) - idle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    gguf = str(embedded_gguf())
    threads = _threads()
    proc, url = start_server(gguf, threads)
    try:
        local_rt = LlamaCppRuntime.load(gguf, n_ctx=2048, extra_buffers=False)
        served_rt = OpenAIRuntime(url, "smol")
        answer(local_rt, -1, 4), answer(served_rt, -1, 4)  # warm both up
        local, served = [], []
        for run in range(args.runs):
            local.append(answer(local_rt, run, args.tokens))
            served.append(answer(served_rt, run, args.tokens))
        del local_rt
        cancels = [cancel_to_free(served_rt, url, after=10) for _ in range(args.runs)]
    finally:
        proc.terminate()
        proc.wait(10)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    print(f"{args.tokens} tokens, {threads} threads, median of {args.runs}:")
    for label, rows in (("in-process llama.cpp backend", local), ("llama.cpp server + client  ", served)):
        print(f"  {label}: TTFT {med([t for t, _ in rows]) * 1000:6.0f} ms · decode {med([s for _, s in rows]):5.1f} tok/s")
    print(f"  cancel → client stream closed {med([c for c, _ in cancels]) * 1000:.0f} ms · "
          f"cancel → server free {med([f for _, f in cancels]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
