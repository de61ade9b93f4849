"""The llama.cpp backend beyond the shared contract: a start without torch, bad files, the context
window, and PEFT LoRAs converted to GGUF and applied by llama.cpp."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/setup.sh builds it)")

from tuichat.errors import AdapterMismatchError, ModelLoadError  # noqa: E402
from tuichat.runtime.base import GenerationParams  # noqa: E402
from tuichat.runtime.llamacpp_backend import LlamaCppRuntime  # noqa: E402
from tuichat.runtime.llamacpp_loading import UnknownArchitectureError  # noqa: E402
from tuichat.runtime.models import embedded_gguf  # noqa: E402

GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=20)
PROMPTS = ["Name three colours.", "What is the capital of France?", "Write a haiku about rain.",
           "Give me a tip for learning to cook."]


def test_the_default_chat_starts_without_torch_or_transformers(tuichat_home):
    code = (
        "import sys, json\n"
        "from tuichat.bootstrap import open_session\n"
        "from tuichat.core.config import Settings\n"
        "session = open_session(Settings(knowledge=False), progress=lambda t: None)\n"
        "print(json.dumps([session.engine.backend, 'torch' in sys.modules, 'transformers' in sys.modules]))\n"
    )
    env = {**os.environ, "TUICHAT_HOME": str(tuichat_home)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == ["llamacpp", False, False]


def write_gguf(path, arch):
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_unknown_architecture_names_it(tmp_path):
    with pytest.raises(UnknownArchitectureError, match="'nosucharch'"):
        LlamaCppRuntime.load(write_gguf(tmp_path / "alien.gguf", "nosucharch"))


def test_unknown_architecture_tries_transformers_then_names_it(tmp_path):
    from tuichat.runtime.loader import load_runtime

    notes = []
    with pytest.raises(ModelLoadError, match="nosucharch"):
        load_runtime(str(write_gguf(tmp_path / "alien.gguf", "nosucharch")), progress=notes.append)
    assert notes and "nosucharch" in notes[0]


@pytest.mark.parametrize("keep_bytes, needle", [(4_000_000, "bytes of tensor data are missing"), (500_000, "truncated or corrupt")])
def test_truncated_file_is_one_clear_line(tmp_path, keep_bytes, needle):
    cut = tmp_path / "cut.gguf"
    with open(embedded_gguf(), "rb") as source:
        cut.write_bytes(source.read(keep_bytes))
    with pytest.raises(ModelLoadError, match=needle):
        LlamaCppRuntime.load(cut)


def test_out_of_memory_while_loading_is_one_line():
    # A context of 200M tokens asks llama.cpp for terabytes of KV cache: its allocation fails.
    with pytest.raises(ModelLoadError, match="out of memory while loading"):
        LlamaCppRuntime.load(embedded_gguf(), n_ctx=200_000_000)


def test_context_window_clamps_the_budget_with_a_notice():
    from tuichat.bootstrap import clamp_to_window
    from tuichat.core.config import Settings

    notes = []
    runtime = LlamaCppRuntime.load(embedded_gguf(), n_ctx=20_000)
    assert runtime.context_window == 8192  # the model's trained window, not the larger context asked for
    settings = clamp_to_window(Settings(context_budget=100_000, max_new_tokens=512), runtime.context_window, notes.append)
    assert settings.context_budget + settings.max_new_tokens <= 8192 and settings.context_budget == 8192 - 512
    assert len(notes) == 1 and "8192" in notes[0]
    assert clamp_to_window(settings, 8192, notes.append) is settings and len(notes) == 1


def agreement(ours: str, theirs: str, tokenizer) -> int | str:
    """Greedy tokens two answers share from the start; "all" when they are the same whole answer."""
    a, b = tokenizer(ours)["input_ids"], tokenizer(theirs)["input_ids"]
    return "all" if a == b else next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def greedy_text(runtime, prompt, params=GREEDY):
    runtime.reset()
    return runtime.generate([{"role": "user", "content": prompt}], params)[0]


def top_two_gap(transformers_runtime, ids: list[int]) -> float:
    """How far apart (in logits) transformers' two best next tokens after `ids` are."""
    import torch

    with torch.inference_mode():
        logits = transformers_runtime.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    first, second = torch.topk(logits, 2).values.tolist()
    return first - second


def test_a_lora_trained_20_steps_changes_answers_and_both_backends_agree(transformers_runtime, llamacpp_runtime,
                                                                          trained_lora):
    tok = transformers_runtime.tokenizer
    backends = (llamacpp_runtime, transformers_runtime)
    opening = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=6)
    base = {(rt.backend, p): greedy_text(rt, p, opening) for rt in backends for p in PROMPTS}
    for rt in backends:
        rt.load_adapter(str(trained_lora), "pirate")
    measured = {}
    for p in PROMPTS:
        ours, theirs = greedy_text(llamacpp_runtime, p), greedy_text(transformers_runtime, p)
        assert not ours.startswith(base["llamacpp", p]) and not theirs.startswith(base["transformers", p])
        measured[p] = agreement(ours, theirs, tok)
        if measured[p] != "all" and measured[p] < 16:  # where do they part: two candidates nearly tied?
            ids = transformers_runtime.prompt_ids([{"role": "user", "content": p}]) + tok(ours)["input_ids"][: measured[p]]
            measured[p] = (measured[p], round(top_two_gap(transformers_runtime, ids), 3))
    for rt in backends:
        rt.set_adapter(None)
    print("greedy tokens agreeing, llama.cpp vs transformers, with the trained LoRA (parted early: token, logit gap):",
          measured)
    # Same Q4_1 weights, different arithmetic (llama.cpp rounds activations to 8 bits), so two
    # candidates within a fraction of a logit may swap; a wrong conversion (scale, transposition,
    # q/k row order) parts the answers within a few tokens where one candidate clearly leads.
    early = [m for m in measured.values() if isinstance(m, tuple)]
    assert len(early) <= 1 and all(gap < 0.3 for _, gap in early), measured


PENALTY_PROMPTS = ["Name three colours.", "Write a haiku about rain.", "List the days of the week."]


def test_both_backends_mean_the_same_repetition_penalty(transformers_runtime, llamacpp_runtime):
    """The penalty covers the whole context (prompt + answer) on both. llama.cpp's own default
    (the last 64 sampled tokens, not the prompt) parted these prompts within 1-5 tokens."""
    tok = transformers_runtime.tokenizer
    penalised = GenerationParams(temperature=0, repetition_penalty=1.3, max_new_tokens=12)
    measured = []
    for p in PENALTY_PROMPTS:
        ours, theirs = greedy_text(llamacpp_runtime, p, penalised), greedy_text(transformers_runtime, p, penalised)
        measured.append(agreement(ours, theirs, tok))
    print("greedy tokens agreeing at repetition penalty 1.3:", measured)
    assert all(m == "all" or m >= 8 for m in measured), measured
    assert any(greedy_text(llamacpp_runtime, p, penalised) != greedy_text(llamacpp_runtime, p, GREEDY) for p in PENALTY_PROMPTS)


def test_converted_adapter_is_cached_by_content(llamacpp_runtime, embedded_loras, tuichat_home):
    from tuichat.runtime.lora_gguf import converted_lora

    first = converted_lora(embedded_loras[0], embedded_gguf(), llamacpp_runtime.base_name)
    mtime = first.stat().st_mtime_ns
    assert converted_lora(embedded_loras[0], embedded_gguf(), llamacpp_runtime.base_name) == first
    assert first.stat().st_mtime_ns == mtime and first.is_relative_to(tuichat_home)


def test_lora_for_another_base_is_refused_naming_both(llamacpp_runtime, embedded_loras, tmp_path):
    import shutil

    foreign = tmp_path / "foreign"
    shutil.copytree(embedded_loras[0], foreign)
    (foreign / "tuichat_adapter.json").write_text(json.dumps({"base_model": "Qwen2.5-0.5B", "base_fingerprint": "0" * 16}))
    with pytest.raises(AdapterMismatchError, match="Qwen2.5-0.5B.*SmolLM2-135M-Instruct"):
        llamacpp_runtime.load_adapter(str(foreign))


def test_lora_with_modules_llama_cpp_cannot_map_names_them(llamacpp_runtime, embedded_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(embedded_model_dir))
    config = LoraConfig(r=2, target_modules=["q_proj", "lm_head"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(tmp_path / "odd"))
    with pytest.raises(ModelLoadError, match="lm_head"):
        llamacpp_runtime.load_adapter(str(tmp_path / "odd"))
    assert "odd" not in llamacpp_runtime.adapters()


def send_counting_prompt_tokens(session, text):
    """Send `text`; returns the reply and the prompt tokens llama.cpp itself evaluated for it (its
    own performance counter, read before the session warms the next turn)."""
    import llama_cpp

    ctx = session.engine.llm._ctx.ctx
    llama_cpp.llama_synchronize(ctx)  # llama.cpp adds up its counters when it synchronises
    llama_cpp.llama_perf_context_reset(ctx)
    reply = session.send(text)
    reply.stream.finished.wait(120)
    llama_cpp.llama_synchronize(ctx)
    evaluated = llama_cpp.llama_perf_context(ctx).n_p_eval
    return reply.wait(), evaluated


def test_a_session_warms_while_the_user_types_so_turn_one_prefills_only_the_message(tuichat_home):
    from tuichat.bootstrap import open_session
    from tuichat.core.config import Settings
    from tuichat.core.prompt import shared_prefix_ids

    session = open_session(Settings(knowledge=False, temperature=0, repetition_penalty=1.3, max_new_tokens=6),
                           progress=lambda _t: None)
    runtime = session.engine
    assert runtime.backend == "llamacpp" and runtime.wait_warm(120)
    question = "What is the capital of France?"

    def pinned_prefix():
        earlier = [t.as_message() for t in session.branch()]
        return shared_prefix_ids(runtime, session.persona.system_messages(), earlier, session.settings.context_budget)

    prefix = pinned_prefix()
    assert len(prefix) > 50 and runtime.warm_ids == tuple(prefix)  # system prompt + greeting
    reply, decoded = send_counting_prompt_tokens(session, question)
    assert reply.stats.reused_tokens == len(prefix)
    assert decoded == reply.stats.prompt_tokens - len(prefix) < 20  # only the user's message and the template around it
    # After the answer the next turn's start (now with the answer) is warmed too.
    assert runtime.wait_warm(120)
    prefix = pinned_prefix()
    second, decoded = send_counting_prompt_tokens(session, "And of Spain?")
    assert second.stats.reused_tokens == len(prefix) and decoded == second.stats.prompt_tokens - len(prefix) < 20

    # A new session warms as it opens; a question sent at once waits for the warm and loses nothing.
    session.new_session()
    start = pinned_prefix()
    fast = session.send(question).wait()
    # Its start, warmed from nothing, was also kept on disk: read back after the cache is dropped
    # (as a new process would), it gives the same answer as a prefill from scratch.
    runtime.reset()
    from_disk = session.regenerate().wait()
    runtime.reset()
    runtime.keep_prefixes_on_disk = False
    cold = session.regenerate().wait()
    runtime.keep_prefixes_on_disk = True
    assert from_disk.stats.reused_tokens == len(start)
    assert cold.stats.reused_tokens == 0 and fast.text == from_disk.text == cold.text == reply.text

    # A persona switch warms the new persona's start.
    session.new_session()
    session.set_persona("tutor")
    assert runtime.wait_warm(120) and runtime.warm_ids == tuple(pinned_prefix())
    assert session.send(question).wait().stats.reused_tokens == len(runtime.warm_ids)
