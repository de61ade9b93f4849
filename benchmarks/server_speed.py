"""The client's overhead: the same GGUF through llama-cpp-python's OpenAI-compatible server (with
tuichat's `--backend openai` client) vs llama.cpp in-process (`llama_cpp.Llama`), and the time from
a cancel to the server being free again.

    .venv/bin/python benchmarks/server_speed.py [--runs 3] [--tokens 64] [--threads 2]

Both sides use the same file, threads and context, with llama.cpp's extra weight buffers off (see
scripts/llama_server.py). Runs alternate between the two sides, so load on a shared machine hits
both alike; medians are printed. Not a test: nothing here passes or fails.
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

from tuichat.runtime.base import GenerationParams  # noqa: E402
from tuichat.runtime.models import embedded_gguf  # noqa: E402
from tuichat.runtime.openai_backend import OpenAIRuntime  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]
LONG = [{"role": "user", "content": "Write a very long story about a dragon, a cat and a lighthouse."}]


def start_server(gguf: str, threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {"host": "127.0.0.1", "port": port,
              "models": [{"model": gguf, "model_alias": "smol", "n_ctx": 2048, "n_threads": threads, "verbose": False}]}
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


def in_process(llm, tokens: int) -> tuple[float, float]:
    """(TTFT s, decode tok/s) of one streamed greedy answer, counted the way AnswerStats counts."""
    llm.reset()  # no prefix cache across runs: the server side gets none either (one request each)
    start = time.perf_counter()
    first, n = 0.0, 0
    for chunk in llm.create_chat_completion(PROMPT, max_tokens=tokens, temperature=0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            n += 1
            if n == 1:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    return first, (n - 1) / (total - first) if n > 1 else 0.0


def through_server(rt: OpenAIRuntime, tokens: int) -> tuple[float, float]:
    stats = rt.stream(PROMPT, GenerationParams(temperature=0, max_new_tokens=tokens, repetition_penalty=1.0)).wait().stats
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
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import llama_cpp.llama_cpp as native

    original = native.llama_model_default_params

    def defaults():
        params = original()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = defaults
    from llama_cpp import Llama

    gguf = str(embedded_gguf())
    proc, url = start_server(gguf, args.threads)
    try:
        llm = Llama(gguf, n_ctx=2048, n_threads=args.threads, verbose=False)
        rt = OpenAIRuntime(url, "smol")
        in_process(llm, 4), through_server(rt, 4)  # warm both up
        local, served = [], []
        for _ in range(args.runs):
            local.append(in_process(llm, args.tokens))
            served.append(through_server(rt, args.tokens))
        del llm  # free the in-process copy's threads before timing the cancel
        cancels = [cancel_to_free(rt, url, after=10) for _ in range(args.runs)]
    finally:
        proc.terminate()
        proc.wait(10)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    print(f"{args.tokens} tokens, {args.threads} threads, median of {args.runs}:")
    print(f"  in-process llama_cpp.Llama : TTFT {med([t for t, _ in local]) * 1000:6.0f} ms · "
          f"decode {med([s for _, s in local]):5.1f} tok/s")
    print(f"  llama.cpp server + client  : TTFT {med([t for t, _ in served]) * 1000:6.0f} ms · "
          f"decode {med([s for _, s in served]):5.1f} tok/s")
    print(f"  cancel → client stream closed {med([c for c, _ in cancels]) * 1000:.0f} ms · "
          f"cancel → server free {med([f for _, f in cancels]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
