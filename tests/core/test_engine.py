"""Engine on a tiny random Llama with SmolLM2's real tokenizer: streaming, cancel, cache reuse."""
import json
import threading

import pytest
import torch

from tuichat.runtime import adapter_files, models
from tuichat.runtime.detokenizer import Detokenizer
from tuichat.runtime.transformers_backend import Engine, GenerationParams
from tuichat.errors import AdapterMismatchError, TuichatError

GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=24)


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine.load(str(tiny_model_dir), progress=lambda _t: None)


def reference_generate(engine, messages, max_new_tokens):
    ids = torch.tensor([engine.prompt_ids(messages)])
    out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                do_sample=False, pad_token_id=engine.tokenizer.pad_token_id)
    return engine.tokenizer.decode(out[0][ids.shape[1]:], skip_special_tokens=True)


def test_streamed_greedy_equals_generate(engine):
    messages = [{"role": "user", "content": "Tell me about the sea."}]
    stream = engine.stream(messages, GREEDY)
    deltas = list(stream)
    assert len(deltas) > 1, "text must arrive in several pieces, not at the end"
    assert "".join(deltas) == stream.text == reference_generate(engine, messages, 24)
    assert stream.stats.prompt_tokens == len(engine.prompt_ids(messages))
    assert stream.stats.finish_reason in ("eos", "length")


def test_second_turn_reuses_prefix_and_still_equals_generate(engine):
    first = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    answer, _ = engine.generate(first, GREEDY)
    second = first + [{"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
    stream = engine.stream(second, GREEDY).wait()
    assert stream.stats.reused_tokens > len(engine.prompt_ids(first)) // 2
    assert stream.text == reference_generate(engine, second, 24)


def test_cache_reuse_after_cancel_gives_same_text(engine):
    messages = [{"role": "user", "content": "Count slowly."}]
    cancel = threading.Event()
    stream = engine.stream(messages, GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=200), cancel)
    for i, _ in enumerate(stream):
        if i == 2:
            cancel.set()
    assert stream.stats.finish_reason == "cancelled"
    assert stream.stats.new_tokens <= 6, "cancel must stop within a few tokens"
    again = engine.stream(messages, GREEDY).wait()
    assert again.text == reference_generate(engine, messages, 24)


def test_sampling_is_reproducible_with_seed_and_differs_without(engine):
    messages = [{"role": "user", "content": "Say something."}]
    p = GenerationParams(temperature=1.5, top_p=0.95, max_new_tokens=16, seed=7)
    a, _ = engine.generate(messages, p)
    b, _ = engine.generate(messages, p)
    c, _ = engine.generate(messages, GenerationParams(temperature=1.5, top_p=0.95, max_new_tokens=16, seed=8))
    assert a == b
    assert a != c


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(max_new_tokens=0), dict(repetition_penalty=0)])
def test_bad_generation_params_are_refused(bad):
    with pytest.raises(TuichatError):
        GenerationParams(**bad)


def test_detokenizer_reassembles_multibyte_text_exactly(engine):
    text = "猫娘喵～ naïve café 🐱🚀 done"
    ids = engine.tokenizer(text, add_special_tokens=False)["input_ids"]
    detok = Detokenizer(engine.tokenizer)
    pieces = [detok.push(i) for i in ids] + [detok.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces), "half characters must be held back"


def _lora_adapter(model_dir, out, base_model):
    from peft import LoraConfig, get_peft_model

    loaded = models.load(str(model_dir), progress=lambda _t: None)
    peft_model = get_peft_model(loaded.model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(out)
    (out / adapter_files.ADAPTER_META).write_text(json.dumps(
        {"base_model": base_model, "base_fingerprint": adapter_files.base_fingerprint(loaded.model)}))
    return out


def test_adapter_for_the_same_base_loads(tiny_model_dir, tmp_path):
    adapter = _lora_adapter(tiny_model_dir, tmp_path / "lora", "tiny")
    engine = Engine.load(str(tiny_model_dir), str(adapter), progress=lambda _t: None)
    assert "lora" in engine.model_name
    text, _ = engine.generate([{"role": "user", "content": "hi"}], GREEDY)
    assert isinstance(text, str)


def test_adapter_for_another_base_is_refused_naming_both(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    other = tmp_path / "other-base"
    torch.manual_seed(123)
    model = AutoModelForCausalLM.from_config(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).config)
    model.save_pretrained(other)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(other)
    adapter = _lora_adapter(other, tmp_path / "lora", "other-base")
    with pytest.raises(AdapterMismatchError) as err:
        models.load(str(tiny_model_dir), str(adapter), progress=lambda _t: None)
    assert "other-base" in str(err.value) and tiny_model_dir.name in str(err.value)
    # --force-adapter is the explicit escape hatch
    models.load(str(tiny_model_dir), str(adapter), force_adapter=True, progress=lambda _t: None)


def test_foreign_adapter_declaring_another_base_is_refused(tiny_model_dir, tmp_path):
    adapter = _lora_adapter(tiny_model_dir, tmp_path / "lora", "tiny")
    (adapter / adapter_files.ADAPTER_META).unlink()
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "Qwen/Qwen2.5-1.5B"
    (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AdapterMismatchError, match="Qwen2.5-1.5B"):
        models.load(str(tiny_model_dir), str(adapter), progress=lambda _t: None)


def test_four_bit_loading_through_bitsandbytes(tiny_model_dir, tmp_path):
    pytest.importorskip("bitsandbytes")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    # bitsandbytes' CPU kernels need rows wider than the 32-wide tiny model: a 256-wide sibling.
    config = AutoConfig.from_pretrained(str(tiny_model_dir))
    config.hidden_size, config.intermediate_size, config.head_dim = 256, 512, 64
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "m")
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(tmp_path / "m")
    engine = Engine.load(str(tmp_path / "m"), load_in_4bit=True, progress=lambda _t: None)
    assert any("4bit" in type(m).__name__ for m in engine.model.modules())
    text, stats = engine.generate([{"role": "user", "content": "hi"}], GREEDY)
    assert stats.new_tokens > 0 or stats.finish_reason == "eos"
