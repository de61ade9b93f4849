"""The CUDA decode path's static KV cache, run on the CPU (compiling stays a CUDA-only switch):
same greedy text as the dynamic cache, and the previous turn's prefix is still reused."""
import pytest

from tuichat.runtime.base import GenerationParams
from tuichat.runtime.transformers_backend import Engine

GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=20)


@pytest.fixture(scope="module")
def engines(tiny_model_dir):
    dynamic = Engine.load(str(tiny_model_dir), device="cpu", dtype="float32", progress=lambda _t: None)
    static = Engine.load(str(tiny_model_dir), device="cpu", dtype="float32", progress=lambda _t: None)
    static.static_cache = True
    return dynamic, static


def test_static_cache_answers_like_the_dynamic_one_across_turns(engines):
    dynamic, static = engines
    assert not dynamic.static_cache and not dynamic.compile_decode  # CPU default
    first = [{"role": "user", "content": "Tell me about the sea."}]
    a, b = dynamic.generate(first, GREEDY)[0], static.generate(first, GREEDY)[0]
    assert a == b
    second = first + [{"role": "assistant", "content": a}, {"role": "user", "content": "And rivers?"}]
    stream = static.stream(second, GREEDY).wait()
    assert stream.stats.reused_tokens > 0
    assert stream.text == dynamic.generate(second, GREEDY)[0]
    static.reset()
    again = static.stream(second, GREEDY).wait()
    assert again.stats.reused_tokens == 0 and again.text == stream.text
