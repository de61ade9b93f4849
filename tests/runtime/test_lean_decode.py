"""The lean one-token step (lean_decode.py) gives exactly the logits of the model's own forward, on
every kind of layer it meets (fp32, packed 4-bit, fused, wrapped by a PEFT adapter), and declines
the architectures and settings it does not reproduce."""
import pytest
import torch
from test_packed_weights import MESSAGES, q4_model_dir, snap_q4_1  # noqa: F401  (a fixture)
from test_transformers_adapters import make_lora
from torch import nn
from transformers import AutoModelForCausalLM, DynamicCache, LlamaConfig, Qwen2Config

from tuichat.runtime import packed_weights
from tuichat.runtime.base import GenerationParams
from tuichat.runtime.lean_decode import LeanDecoder
from tuichat.runtime.packed_weights import FusedInt4, PackedInt4Linear, fit_4bit_grid
from tuichat.runtime.transformers_backend import Engine

needs_int4 = pytest.mark.skipif(not packed_weights.kernel_available(), reason="this torch has no int4 CPU kernel")
PROMPT = [[5, 17, 3, 99, 42, 8, 61, 23, 77, 12]]
STEPS = 6


def assert_steps_equal_the_model(model, prompt=PROMPT, steps=STEPS):
    """Prefill both caches with the model's forward, then decode greedily through the model and
    through the lean step side by side: every step's logits must be bit-identical."""
    lean = LeanDecoder.build(model)
    assert lean is not None
    ours, theirs = DynamicCache(config=model.config), DynamicCache(config=model.config)
    ids = torch.tensor(prompt)
    with torch.inference_mode():
        model(input_ids=ids, cache=theirs, use_cache=True)
        model(input_ids=ids, cache=ours, use_cache=True)
        token = torch.tensor([[7]])
        for _ in range(steps):
            want = model(input_ids=token, cache=theirs, use_cache=True).logits
            got = lean(token, ours)
            assert got.shape == want.shape and torch.equal(got, want)
            token = want[:, -1:].argmax(-1)
    assert ours.get_seq_length() == theirs.get_seq_length() == len(prompt[0]) + steps
    return lean


def tiny(config_class, **extra):
    torch.manual_seed(0)
    config = config_class(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, **extra)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()


def test_llama_and_qwen2_steps_are_the_models_own_logits():
    assert_steps_equal_the_model(tiny(LlamaConfig))
    qwen = tiny(Qwen2Config)
    assert qwen.model.layers[0].self_attn.q_proj.bias is not None  # Qwen2's q/k/v biases are on the path
    assert_steps_equal_the_model(qwen)


def test_what_it_does_not_reproduce_is_declined():
    assert LeanDecoder.build(tiny(Qwen2Config, use_sliding_window=True, sliding_window=8, max_window_layers=0)) is None
    eager = AutoModelForCausalLM.from_config(tiny(LlamaConfig).config, attn_implementation="eager")
    assert LeanDecoder.build(eager) is None  # its attention arithmetic differs from SDPA's
    from transformers import GPT2Config

    assert LeanDecoder.build(AutoModelForCausalLM.from_config(GPT2Config(n_layer=1, n_embd=32, n_head=2))) is None


@needs_int4
@pytest.mark.parametrize("config_class", [LlamaConfig, Qwen2Config])
def test_packed_layers_fuse_and_still_give_the_models_own_logits(config_class):
    model = tiny(config_class)
    with torch.no_grad():
        for module in model.model.modules():
            if isinstance(module, nn.Linear):
                module.weight.copy_(snap_q4_1(module.weight * 16))
    assert packed_weights.pack_model(model) == 2 * 7
    lean = assert_steps_equal_the_model(model)
    assert all(fused is not None for fused in lean.fused_gate_up)  # gate/up: 128 rows each


@needs_int4
def test_fused_layers_share_one_copy_of_the_weights_and_each_still_works_alone():
    torch.manual_seed(1)
    layers = [nn.Linear(96, rows, bias=bias) for rows, bias in ((128, True), (64, False), (64, True))]
    packed = []
    for layer in layers:
        with torch.no_grad():
            layer.weight.copy_(snap_q4_1(layer.weight))
        packed.append(PackedInt4Linear(layer, *fit_4bit_grid(layer.weight)))
    x = torch.randn(1, 1, 96)
    alone = [layer(x) for layer in packed]
    fused = FusedInt4.of(packed)
    assert fused is not None and fused.holds(packed)
    assert all(torch.equal(a, b) for a, b in zip(fused(x), alone))
    assert all(layer.qweight.untyped_storage().data_ptr() == fused.qweight.untyped_storage().data_ptr()
               for layer in packed)  # views into the fused buffer
    assert all(torch.equal(layer(x), want) for layer, want in zip(packed, alone))
    assert FusedInt4.of([packed[0], layers[1]]) is None  # a plain Linear does not fuse


@needs_int4
def test_steps_through_a_lora_on_packed_layers_and_with_it_disabled(q4_model_dir, tmp_path):  # noqa: F811
    engine = Engine.load(str(q4_model_dir), device="cpu", dtype="int4")
    engine.load_adapter(str(make_lora(q4_model_dir, tmp_path / "lora", seed=3)))
    assert_steps_equal_the_model(engine.model)  # wrapped q/v/down: called one by one
    engine.set_adapter(None)
    assert_steps_equal_the_model(engine.model)


def test_the_engine_decodes_through_it_with_the_same_answer(tiny_model_dir):
    engine = Engine.load(str(tiny_model_dir), device="cpu", dtype="float32")
    assert engine._lean_step is not None
    params = GenerationParams(temperature=0, repetition_penalty=1.3, max_new_tokens=24)
    lean_text, lean_stats = engine.generate(MESSAGES, params)
    engine._lean_step = None  # every step through the model's own forward
    engine.reset()
    text, stats = engine.generate(MESSAGES, params)
    assert lean_text == text and lean_stats.new_tokens == stats.new_tokens > 0
