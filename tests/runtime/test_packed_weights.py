"""Linear layers whose weights are already 4-bit (a model converted from a Q4_0/Q4_1 GGUF) run on
packed int4 weights on the CPU; everything else is left as it is, and LoRA adapters still work."""
import json

import pytest
import torch
from torch import nn

from tuichat.errors import ModelLoadError
from tuichat.runtime import cpu_dtype, packed_weights
from tuichat.runtime.base import GenerationParams
from tuichat.runtime.packed_weights import GROUP, PackedInt4Linear, fit_4bit_grid, pack_model
from tuichat.runtime.transformers_backend import Engine

pytestmark = pytest.mark.skipif(not packed_weights.kernel_available(), reason="this torch has no int4 CPU kernel")

MESSAGES = [{"role": "user", "content": "Name three colours."}]
# The tiny model's weights are scaled up before snapping, so that its greedy answer varies (46
# distinct tokens in 48) instead of repeating one token; packed (bf16 activations) and fp32 then
# agreed for the first 27 tokens when measured.
WEIGHT_SCALE = 16
AGREED_TOKENS = 16


def snap_q4_1(weight: torch.Tensor) -> torch.Tensor:
    """`weight` rounded to GGUF Q4_1 as llama.cpp does it: per group of 32 inputs, fp16 d and m,
    w = d * q + m with q in 0..15, de-quantised to fp32."""
    rows, cols = weight.shape
    groups = weight.reshape(rows, cols // GROUP, GROUP)
    low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
    d = ((high - low) / 15).half().float()
    m = low.half().float()
    q = torch.round((groups - m) / d).clamp(0, 15)
    return (d * q + m).reshape(rows, cols)


def snap_q4_0(weight: torch.Tensor) -> torch.Tensor:
    """`weight` rounded to GGUF Q4_0: d = (the value of largest magnitude) / -8, w = d * (q - 8)."""
    rows, cols = weight.shape
    groups = weight.reshape(rows, cols // GROUP, GROUP)
    extreme = groups.gather(-1, groups.abs().argmax(-1, keepdim=True))
    d = (extreme / -8).half().float()
    q = torch.round(groups / d + 8).clamp(0, 15)
    return (d * (q - 8)).reshape(rows, cols)


def snapped_linear(snap, rows=48, cols=96, bias=True):
    torch.manual_seed(0)
    linear = nn.Linear(cols, rows, bias=bias)
    with torch.no_grad():
        linear.weight.copy_(snap(linear.weight))
    return linear


@pytest.mark.parametrize("snap", [snap_q4_1, snap_q4_0])
def test_a_packed_layer_equals_the_fp32_layer_within_bf16_rounding(snap):
    linear = snapped_linear(snap)
    packed = PackedInt4Linear(linear, *fit_4bit_grid(linear.weight))
    assert isinstance(packed, nn.Linear) and packed.weight is None  # a Linear to PEFT, no fp32 copy
    for rows in (1, 3, 40):  # decode (the int4 kernel) and prefill (the bf16 copy) shapes
        x = torch.randn(2, rows, 96)
        want, got = linear(x), packed(x)
        assert got.dtype == torch.float32 and got.shape == want.shape
        assert (got - want).abs().max() <= 2e-2 * want.abs().max()


def test_a_layer_off_the_4bit_grid_is_left_as_it_is():
    model = nn.Sequential(nn.Linear(96, 48), snapped_linear(snap_q4_1))
    assert fit_4bit_grid(model[0].weight) is None
    nudged = snapped_linear(snap_q4_1).weight.detach().clone()
    nudged[3, 5] += 0.1 * (nudged[3, :32].amax() - nudged[3, :32].amin()) / 15  # a tenth of a step off
    assert fit_4bit_grid(nudged) is None
    assert fit_4bit_grid(snap_q4_1(torch.randn(40, 96))) is None  # 40 outputs: the kernel packs 16 at a time
    plain = model[0]
    assert pack_model(model) == 1
    assert model[0] is plain and isinstance(model[1], PackedInt4Linear)


@pytest.fixture(scope="module")
def q4_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny test model with every Linear layer of its body snapped to the Q4_1 grid."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    with torch.no_grad():
        for name, module in model.model.named_modules():
            if isinstance(module, nn.Linear):
                module.weight.copy_(snap_q4_1(module.weight * WEIGHT_SCALE))
    out = tmp_path_factory.mktemp("tiny-q4")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(out)
    return out


def greedy_ids(engine, tokens=AGREED_TOKENS):
    """Greedy token ids of the engine's model (prefill, then one token at a time through the kernel)."""
    prompt = torch.tensor([engine.prompt_ids(MESSAGES)])
    with torch.inference_mode():
        out = engine.model.generate(input_ids=prompt, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens,
                                    repetition_penalty=1.0)
    return out[0, prompt.shape[1]:].tolist()


def test_a_q4_model_generates_through_packed_layers_like_fp32(q4_model_dir):
    fp32 = Engine.load(str(q4_model_dir), device="cpu", dtype="float32")
    packed = Engine.load(str(q4_model_dir), device="cpu", dtype="int4")
    assert fp32.loaded.packed_layers == 0 and packed.loaded.packed_layers == 2 * 7  # q k v o gate up down
    assert packed.loaded.precision == "int4+torch.float32"
    reference = greedy_ids(fp32)
    assert len(set(reference)) > AGREED_TOKENS // 2 and greedy_ids(packed) == reference
    params = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=8)
    assert packed.generate(MESSAGES, params)[1].new_tokens == 8  # and the chat engine's own decode loop


def test_packing_is_the_cpu_default_only_where_measured_faster(q4_model_dir, tiny_model_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cpu-dtype.json"
    monkeypatch.setattr(cpu_dtype, "_cache_file", lambda: cache)
    cache.write_text(json.dumps({"float32": 1.0, "bfloat16": 2.0, "int4_speedup": 3.0, "method": cpu_dtype._METHOD}))
    assert Engine.load(str(q4_model_dir), device="cpu").loaded.packed_layers == 14
    assert Engine.load(str(q4_model_dir), device="cpu", dtype="float32").loaded.packed_layers == 0
    random_weights = Engine.load(str(tiny_model_dir), device="cpu")
    assert random_weights.loaded.packed_layers == 0 and random_weights.dtype is torch.float32
    cache.write_text(json.dumps({"float32": 1.0, "bfloat16": 2.0, "int4_speedup": 1.3, "method": cpu_dtype._METHOD}))  # too little to gain clearly
    assert Engine.load(str(q4_model_dir), device="cpu").loaded.packed_layers == 0


def test_int4_elsewhere_than_the_cpu_is_one_clear_error(q4_model_dir):
    with pytest.raises(ModelLoadError, match="--dtype int4 runs on the CPU only"):
        Engine.load(str(q4_model_dir), device="cpu", dtype="int4", load_in_4bit=True)


def test_a_peft_lora_on_packed_layers_changes_the_answer_and_disabling_restores_it(q4_model_dir, tmp_path):
    from test_transformers_adapters import make_lora

    adapter = make_lora(q4_model_dir, tmp_path / "q4-lora", seed=3)  # on q_proj, v_proj, down_proj
    engine = Engine.load(str(q4_model_dir), device="cpu", dtype="int4")
    base = greedy_ids(engine, 12)
    engine.load_adapter(str(adapter))
    lora_layer = engine.model.base_model.model.model.layers[0].self_attn.q_proj
    assert isinstance(lora_layer.base_layer, PackedInt4Linear)  # PEFT wrapped the packed layer itself
    assert greedy_ids(engine, 12) != base
    engine.set_adapter(None)
    assert greedy_ids(engine, 12) == base
    # The same adapter on plain fp32 weights starts the same answer (6 tokens agreed when measured;
    # this strong random LoRA leaves fp32 sooner than the base does).
    fp32 = Engine.load(str(q4_model_dir), device="cpu", dtype="float32", adapter=str(adapter))
    engine.set_adapter("q4-lora")
    assert greedy_ids(engine, 12)[:4] == greedy_ids(fp32, 12)[:4]
