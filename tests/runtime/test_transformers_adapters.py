"""Several LoRA adapters on one set of loaded base weights: load, switch, back to the base."""
import pytest

from tuichat.errors import TuichatError
from tuichat.runtime.base import GenerationParams, ModelRuntime
from tuichat.runtime.transformers_backend import Engine

GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=12)
MESSAGES = [{"role": "user", "content": "Name three colours."}]


def make_lora(base_dir, out, seed):
    """A LoRA with non-zero random weights (PEFT's default init makes B zero, i.e. no change)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def two_adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return make_lora(tiny_model_dir, root / "alpha", 1), make_lora(tiny_model_dir, root / "beta", 2)


def answer(engine):
    return engine.generate(MESSAGES, GREEDY)[0]


def test_switching_adapters_changes_answers_and_base_is_restored_exactly(tiny_model_dir, two_adapters):
    engine = Engine.load(str(tiny_model_dir), device="cpu", dtype="float32")
    assert isinstance(engine, ModelRuntime)
    base = answer(engine)
    assert engine.load_adapter(str(two_adapters[0])) == "alpha"
    assert engine.active_adapter == "alpha" and engine.model_name.endswith("+ alpha")
    alpha = answer(engine)
    engine.load_adapter(str(two_adapters[1]))
    beta = answer(engine)
    assert engine.adapters() == ["alpha", "beta"]
    assert len({base, alpha, beta}) == 3
    engine.set_adapter(None)
    assert engine.active_adapter is None and "+" not in engine.model_name
    assert answer(engine) == base
    engine.set_adapter("alpha")
    assert answer(engine) == alpha


def test_unknown_adapter_name_is_one_clear_error(tiny_model_dir):
    engine = Engine.load(str(tiny_model_dir), device="cpu", dtype="float32")
    with pytest.raises(TuichatError, match="no adapter named 'nope'"):
        engine.set_adapter("nope")
