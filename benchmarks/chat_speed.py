"""Chat speed on the embedded model: plain `model.generate` vs tuichat's streamed engine, time to
first token at turn 1 vs turn 20 (KV-cache prefix reuse on/off), and cold start to model ready.

    .venv/bin/python benchmarks/chat_speed.py [--runs 5] [--tokens 64]

Prints medians; numbers go into the README. Not a test: nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from tuichat.runtime.transformers_backend import Engine, GenerationParams  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]


def plain_generate_tps(engine: Engine, tokens: int) -> float:
    """`model.generate`, run in a worker thread like the engine's loop: on this box torch's 2-thread
    OpenMP pool is ~10x slower in the main thread than in a fresh thread (measured), which would
    flatter the engine unfairly."""
    ids = torch.tensor([engine.prompt_ids(PROMPT)])
    result: dict[str, float] = {}

    def run() -> None:
        start = time.perf_counter()
        out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                                    min_new_tokens=tokens, do_sample=False,
                                    pad_token_id=engine.tokenizer.pad_token_id)
        result["tps"] = (out.shape[1] - ids.shape[1]) / (time.perf_counter() - start)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return result["tps"]


def streamed_tps(engine: Engine, tokens: int) -> tuple[float, str]:
    engine.reuse_cache = False  # same work as plain generate: full prefill every time
    start = time.perf_counter()
    stream = engine.stream(PROMPT, GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=tokens))
    for _ in stream:
        pass
    return stream.stats.new_tokens / (time.perf_counter() - start), stream.text


def ttft_by_turn(engine: Engine, reuse: bool, turns: int = 20) -> tuple[float, float, int]:
    engine.reuse_cache = reuse
    engine.reset()  # a fresh conversation: turn 1 has nothing cached
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    p = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=48)
    first = last = 0.0
    tokens = 0
    for turn in range(1, turns + 1):
        messages.append({"role": "user", "content": f"Turn {turn}: tell me one fact about the number {turn * 7}."})
        stream = engine.stream(messages, p).wait()
        messages.append({"role": "assistant", "content": stream.text})
        if turn == 1:
            first = stream.stats.ttft_s
        last, tokens = stream.stats.ttft_s, stream.stats.prompt_tokens
    return first, last, tokens


def cold_start() -> float:
    code = ("import time; t=time.perf_counter(); from tuichat.runtime.transformers_backend import Engine; "
            "Engine.load(None, progress=lambda _t: None); print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    fp32 = Engine.load(None, dtype="float32", progress=lambda _t: None)
    auto = Engine.load(None, progress=lambda _t: None)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, auto dtype {auto.dtype}")
    for e in (fp32, auto):  # warm-up: first calls pay one-time kernel/alloc setup
        e.generate(PROMPT, GenerationParams(temperature=0, max_new_tokens=4))
    plain, ours, ours32 = [], [], []
    for _ in range(args.runs):  # interleaved, so load on the machine hits all three alike
        plain.append(plain_generate_tps(fp32, args.tokens))
        tps32, text32 = streamed_tps(fp32, args.tokens)
        ours32.append(tps32)
        tps, text = streamed_tps(auto, args.tokens)
        ours.append(tps)
    med = statistics.median
    print(f"plain generate (fp32):      {med(plain):6.1f} tok/s")
    print(f"tuichat streamed (fp32):    {med(ours32):6.1f} tok/s  ({med(ours32) / med(plain):.2f}x)")
    print(f"tuichat streamed ({auto.dtype}): {med(ours):6.1f} tok/s  ({med(ours) / med(plain):.2f}x)")
    same = next((i for i, (a, b) in enumerate(zip(text, text32)) if a != b), min(len(text), len(text32)))
    print(f"greedy text, auto dtype vs fp32: identical for the first {same} of {len(text32)} characters")
    reuse = [ttft_by_turn(auto, True) for _ in range(max(1, args.runs // 2))]
    fresh = [ttft_by_turn(auto, False) for _ in range(max(1, args.runs // 2))]
    t1, t20 = med(r[0] for r in reuse), med(r[1] for r in reuse)
    f1, f20 = med(r[0] for r in fresh), med(r[1] for r in fresh)
    print(f"TTFT with prefix reuse: turn 1 {t1 * 1000:.0f} ms, turn 20 ({reuse[0][2]} prompt tokens) "
          f"{t20 * 1000:.0f} ms = {t20 / t1:.2f}x")
    print(f"TTFT without reuse:     turn 1 {f1 * 1000:.0f} ms, turn 20 {f20 * 1000:.0f} ms = {f20 / f1:.2f}x")
    colds = [cold_start() for _ in range(args.runs)]
    print(f"cold start to model ready (converted folder cached): median {med(colds):.2f} s")


if __name__ == "__main__":
    main()
