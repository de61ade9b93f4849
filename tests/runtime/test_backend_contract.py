"""The ModelRuntime contract, the same tests for every backend (see conftest.py: each available
backend runs the embedded SmolLM2): streaming, cancel, reset, KV prefix reuse, stats, adapters."""
from __future__ import annotations

import pytest

from tuichat.errors import TuichatError
from tuichat.runtime.base import GenerationParams, ModelRuntime

GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=16)
QUESTION = [{"role": "user", "content": "Name three colours."}]


def reference_text(runtime, ids: list[int], max_new_tokens: int) -> str:
    """The same greedy answer from the backend's library itself, in one non-streamed call."""
    if runtime.backend == "llamacpp":
        runtime.llm.reset()
        out = runtime.llm.create_completion(ids, max_tokens=max_new_tokens, temperature=0.0, repeat_penalty=1.0)
        runtime.llm.reset()
        return out["choices"][0]["text"]
    import torch

    tensor = torch.tensor([ids])
    out = runtime.model.generate(input_ids=tensor, attention_mask=torch.ones_like(tensor), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=runtime.tokenizer.pad_token_id)
    return runtime.tokenizer.decode(out[0][tensor.shape[1]:], skip_special_tokens=True)


def test_is_a_model_runtime(runtime):
    assert isinstance(runtime, ModelRuntime)
    assert runtime.context_window and runtime.context_window >= 2048


def test_streamed_text_equals_a_non_streamed_run_and_stats_are_filled(runtime):
    stream = runtime.stream(QUESTION, GREEDY)
    deltas = list(stream)
    assert len(deltas) > 1, "text must arrive in pieces"
    assert "".join(deltas) == stream.text == reference_text(runtime, runtime.prompt_ids(QUESTION), 16)
    stats = stream.stats
    assert stats.prompt_tokens == len(runtime.prompt_ids(QUESTION)) and stats.reused_tokens == 0
    assert 0 < stats.new_tokens <= 16 and stats.finish_reason in ("eos", "length")
    assert 0 < stats.ttft_s <= stats.total_s and stats.tokens_per_s > 0


def test_cancel_stops_within_two_tokens(runtime):
    stream = runtime.stream(QUESTION, GenerationParams(temperature=0.8, seed=3, max_new_tokens=400))
    for _delta in stream:
        seen = stream.stats.new_tokens
        stream.cancel()
        break
    stream.wait()
    assert stream.stats.finish_reason == "cancelled"
    assert stream.stats.new_tokens <= seen + 2


def test_second_turn_reuses_the_prefix_and_answers_as_from_scratch(runtime):
    first, _ = runtime.generate(QUESTION, GREEDY)
    second = QUESTION + [{"role": "assistant", "content": first}, {"role": "user", "content": "And three animals?"}]
    reused = runtime.stream(second, GREEDY).wait()
    assert reused.stats.reused_tokens > len(runtime.prompt_ids(QUESTION)) // 2
    runtime.reset()
    fresh = runtime.stream(second, GREEDY).wait()
    assert fresh.stats.reused_tokens == 0
    assert fresh.text == reused.text


def test_sampling_with_a_seed_repeats(runtime):
    params = GenerationParams(temperature=0.9, top_p=0.9, seed=7, max_new_tokens=12)
    assert runtime.generate(QUESTION, params)[0] == runtime.generate(QUESTION, params)[0]


CONVERSATIONS = [
    QUESTION,
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"},
     {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "What's 2+2?  Tabs\tand\nnewlines."}],
    [{"role": "user", "content": "用中文介绍一下长城。"}, {"role": "assistant", "content": "长城是中国古代的军事防御工程。"},
     {"role": "user", "content": "它有多长？😀 <b>markup</b> [bold]x[/]"}],
]


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_both_backends_render_the_same_prompt_token_ids(transformers_runtime, llamacpp_runtime, messages):
    assert llamacpp_runtime.render(messages) == transformers_runtime.render(messages)
    assert llamacpp_runtime.prompt_ids(messages) == transformers_runtime.prompt_ids(messages)


def test_adapters_load_switch_and_disable(runtime, embedded_loras):
    base = runtime.generate(QUESTION, GREEDY)[0]
    assert runtime.load_adapter(str(embedded_loras[0])) == "alpha"
    assert runtime.active_adapter == "alpha" and runtime.model_name.endswith("+ alpha")
    alpha = runtime.generate(QUESTION, GREEDY)[0]
    runtime.load_adapter(str(embedded_loras[1]))
    beta = runtime.generate(QUESTION, GREEDY)[0]
    assert runtime.adapters() == ["alpha", "beta"]
    assert len({base, alpha, beta}) == 3
    runtime.set_adapter(None)
    assert runtime.active_adapter is None and "+" not in runtime.model_name
    assert runtime.generate(QUESTION, GREEDY)[0] == base
    runtime.set_adapter("alpha")
    assert runtime.generate(QUESTION, GREEDY)[0] == alpha
    with pytest.raises(TuichatError, match="no adapter named 'nope'"):
        runtime.set_adapter("nope")


PINNED = [{"role": "system", "content": "You are a terse assistant."},
          {"role": "assistant", "content": "Hello! What can I help you with today?"}]


def prompt_tokens_evaluated(runtime, stream_fn):
    """Prompt tokens the backend's library itself evaluated while `stream_fn` ran (llama.cpp's own
    counter); None for a backend without one."""
    if runtime.backend != "llamacpp":
        stream_fn()
        return None
    import llama_cpp

    ctx = runtime.llm._ctx.ctx
    llama_cpp.llama_synchronize(ctx)  # llama.cpp adds up its counters when it synchronises
    llama_cpp.llama_perf_context_reset(ctx)
    stream_fn()
    llama_cpp.llama_synchronize(ctx)
    return llama_cpp.llama_perf_context(ctx).n_p_eval


def test_a_warmed_prefix_is_reused_so_the_answer_prefills_only_the_new_message(runtime):
    from tuichat.core.prompt import shared_prefix_ids

    prompt = PINNED + QUESTION
    full = runtime.prompt_ids(prompt)
    prefix = shared_prefix_ids(runtime, PINNED, [], budget=1024)
    assert full[: len(prefix)] == prefix and len(full) - 12 <= len(prefix) < len(full) - 4  # ends where the message starts
    cold = runtime.stream(prompt, GREEDY).wait()
    runtime.reset()
    runtime.warm(lambda: prefix)
    assert runtime.wait_warm(120)
    warm = None

    def answer():
        nonlocal warm
        warm = runtime.stream(prompt, GREEDY).wait()

    evaluated = prompt_tokens_evaluated(runtime, answer)
    assert cold.stats.reused_tokens == 0 and warm.stats.reused_tokens == len(prefix)
    if evaluated is not None:
        assert evaluated == len(full) - len(prefix)
    assert warm.text == cold.text


def test_a_warm_never_replaces_a_fresher_cache_and_an_answer_waits_for_a_running_one(runtime):
    prompt = PINNED + QUESTION
    cold = runtime.stream(prompt, GREEDY).wait()
    runtime.reset()
    # An answer started right after a warm was asked for waits for it and still answers the same.
    runtime.warm(lambda: runtime.prompt_ids(PINNED))
    during = runtime.stream(prompt, GREEDY).wait()
    assert during.text == cold.text
    # A warm of a different prefix asked for before an answer started is dropped, not run after it.
    other = runtime.prompt_ids([{"role": "system", "content": "Another persona altogether."}])
    release = __import__("threading").Event()
    runtime.warm(lambda: release.wait(60) and other)
    after = runtime.stream(prompt, GREEDY).wait()
    release.set()
    assert runtime.wait_warm(60)
    again = runtime.stream(prompt, GREEDY).wait()
    assert after.text == again.text == cold.text
    assert again.stats.reused_tokens == len(runtime.prompt_ids(prompt)) - 1  # the cache still holds this prompt


def test_an_adapter_switch_warms_the_last_prefix_again(runtime, embedded_loras):
    from tuichat.core.prompt import shared_prefix_ids

    prefix = shared_prefix_ids(runtime, PINNED, [], budget=1024)
    runtime.warm(lambda: prefix)
    assert runtime.wait_warm(120)
    runtime.load_adapter(str(embedded_loras[0]), "alpha")
    assert runtime.wait_warm(120)
    stream = runtime.stream(PINNED + QUESTION, GREEDY).wait()
    assert stream.stats.reused_tokens == len(prefix)
    runtime.set_adapter(None)
