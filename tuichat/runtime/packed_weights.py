"""Weights that are already 4-bit, read as 4-bit on the CPU.

A model converted from a Q4_0/Q4_1 GGUF (the embedded SmolLM2 included) holds, in every group of 32
inputs of a quantised Linear layer, at most 16 evenly spaced values: `base + step * q`, q in 0..15.
De-quantised to fp32, such a layer is read at 32 bits a weight on every decoded token although it
carries 4; decoding is bound by those bytes. Here each layer is checked from its own weights (every
group must sit on its grid, to a small fraction of the group's step) and, where it does, is re-packed
into torch's int4 CPU kernel (`_weight_int4pack_mm_for_cpu`, bf16 activations: with fp16 or fp32
ones it ran 45x and 30x slower here). Layers that fail the check stay as they are.

The kernel reads each weight once per input row, so it wins for decoding (one row) and loses for a
long prompt (700 rows: 10x slower than a bf16 matrix product here). A packed layer therefore also
keeps its weights in bf16 for inputs of more than KERNEL_ROWS rows (prefill): 2.5 bytes a weight in
all, against fp32's 4.

The output head of such models is Q8_0 (8-bit), never on a 4-bit grid, so it stays fp32: a bf16 or
int8 copy decoded no faster here and agreed less with fp32 (numbers in README, "transformers on
the CPU").
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from tuichat.errors import ModelLoadError
from tuichat.runtime import cpu_dtype, models

GROUP = 32  # inputs per scale/zero pair: the GGUF Q4 block size
KERNEL_ROWS = 8  # inputs of at most this many rows (tokens) use the int4 kernel; measured crossover 8-16
_STEP_TOLERANCE = 1e-2  # largest distance of a weight from its grid point, as a fraction of the step


def kernel_available() -> bool:
    return hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu") and hasattr(
        torch.ops.aten, "_convert_weight_to_int4pack_for_cpu")


def _codes(groups: torch.Tensor, base: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The nearest 4-bit codes of `groups` on the grid base + step * q, and whether each group is on it."""
    safe = torch.where(step == 0, torch.ones_like(step), step)  # a constant group: every weight is `base`
    position = (groups - base[..., None]).div_(safe[..., None])  # in steps from code 0
    q = position.round().clamp_(0, 15)
    return q, position.sub_(q).abs_().amax(-1) <= _STEP_TOLERANCE


def fit_4bit_grid(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """(codes int32 [N, K], step [N, K/32], base [N, K/32]) if every group of 32 inputs of `weight`
    lies on a 16-point grid, else None. Both GGUF layouts are tried per group: Q4_1 (the group's
    minimum and maximum are codes 0 and 15) and Q4_0 (d * (q - 8): the weight of largest magnitude
    is code 0)."""
    rows, cols = weight.shape
    if cols % GROUP or rows % 16:  # the kernel's packing needs N % 16 == 0
        return None
    if rows > 16 and fit_4bit_grid(weight[:16]) is None:  # most layers that are not 4-bit fail here, cheaply
        return None
    groups = weight.detach().float().reshape(rows, cols // GROUP, GROUP)
    low, high = torch.aminmax(groups, dim=-1)
    step, base = (high - low) / 15, low
    codes, exact = _codes(groups, base, step)
    if not bool(exact.all()):
        d = -groups.gather(-1, groups.abs().argmax(-1, keepdim=True)).squeeze(-1) / 8
        q4_0, exact_q4_0 = _codes(groups, -8 * d, d)
        if not bool((exact | exact_q4_0).all()):
            return None
        step, base = torch.where(exact, step, d), torch.where(exact, base, -8 * d)
        codes = torch.where(exact[..., None], codes, q4_0)
    return codes.reshape(rows, cols).to(torch.int32), step, base


class PackedInt4Linear(nn.Linear):
    """A Linear layer whose weights are 4-bit codes packed for torch's int4 CPU kernel. Still an
    nn.Linear (in/out features, bias), so PEFT puts LoRA adapters on it like on any Linear; there is
    no float `weight` (None), so merging an adapter into it is not possible."""

    def __init__(self, linear: nn.Linear, codes: torch.Tensor, step: torch.Tensor, base: torch.Tensor) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_parameter("weight", None)
        self.bias = linear.bias
        # The kernel's weight is (q - 8) * scale + zero: scale = step, zero = base + 8 * step.
        self.register_buffer("qweight", torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1))
        scales_and_zeros = torch.stack([step, base + 8 * step], -1).transpose(0, 1).contiguous()
        self.register_buffer("scales_and_zeros", scales_and_zeros.to(torch.bfloat16))
        # bf16 rounds the grid values about as much as the kernel's bf16 scales and zeros do
        self.register_buffer("prefill_weight", linear.weight.detach().to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
        if flat.shape[0] > KERNEL_ROWS:
            y = nn.functional.linear(flat, self.prefill_weight)
        else:
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self.qweight, GROUP, self.scales_and_zeros)
        y = y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias



class FusedInt4:
    """Packed layers that read the same input (q/k/v, gate/up), run as one kernel call: fewer calls
    and casts per decoded token. The layers keep views into the fused weights, so nothing is held
    twice, and each still works alone (a PEFT adapter wrapping one of them calls it alone)."""

    def __init__(self, layers: list[PackedInt4Linear]) -> None:
        self.layers = layers
        self.sizes = [layer.out_features for layer in layers]
        self.qweight = torch.cat([layer.qweight for layer in layers])
        self.scales_and_zeros = torch.cat([layer.scales_and_zeros for layer in layers], 1).contiguous()
        biases = [layer.bias if layer.bias is not None else torch.zeros(layer.out_features) for layer in layers]
        self.bias = None if all(layer.bias is None for layer in layers) else torch.cat(biases).detach()

    @classmethod
    def of(cls, layers: list[nn.Module]) -> "FusedInt4 | None":
        """The fused product of `layers`, or None unless all are packed with the same input and the
        kernel's packed rows are independent at their sizes (checked: blocks of 64 rows today)."""
        if not all(type(layer) is PackedInt4Linear for layer in layers):
            return None
        if len({layer.in_features for layer in layers}) != 1:
            return None
        fused = cls(layers)  # type: ignore[arg-type]
        probe = torch.randn(1, layers[0].in_features)
        with torch.no_grad():
            if not all(torch.equal(a, b) for a, b in zip(fused(probe), (layer(probe) for layer in layers))):
                return None
        for layer, rows in zip(layers, fused.qweight.split(fused.sizes)):
            layer.qweight = rows  # a view: the fused buffer is the only copy
        return fused

    def holds(self, layers: list[nn.Module]) -> bool:
        return all(a is b for a, b in zip(layers, self.layers))

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        if flat.shape[0] > KERNEL_ROWS:  # a prompt: each layer's bf16 copy
            return [layer(x) for layer in self.layers]
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self.qweight, GROUP, self.scales_and_zeros).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return [part.reshape(*x.shape[:-1], part.shape[-1]) for part in y.split(self.sizes, -1)]


def pack_model(model: nn.Module) -> int:
    """Replace, in place, every Linear layer of `model` whose weights are exactly 4-bit (see
    fit_4bit_grid) by a PackedInt4Linear; PEFT's own adapter layers are never touched. Returns how
    many layers were packed (0: the model is unchanged)."""
    packed = 0
    # One thread: these are many small operations, and with two, on a shared 2-core machine, each
    # waited for a scheduler slice (a 135M model packed in ~60 s instead of ~3 s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for parent_name, parent in list(model.named_modules()):
                if "lora_" in parent_name:
                    continue
                for name, child in list(parent.named_children()):
                    if type(child) is not nn.Linear or name.startswith("lora_"):
                        continue
                    fit = fit_4bit_grid(child.weight)
                    if fit is not None:
                        setattr(parent, name, PackedInt4Linear(child, *fit))
                        packed += 1
    finally:
        torch.set_num_threads(threads)
    return packed


def load(spec: str | os.PathLike | None = None, adapter: str | os.PathLike | None = None, *,
         device: str | None = None, dtype: str | None = None, load_in_4bit: bool = False,
         force_adapter: bool = False, progress: models.Progress | None = None) -> models.LoadedModel:
    """models.load for the chat runtime: on the CPU, a model's exactly-4-bit layers are packed when
    asked (`dtype="int4"`) or, with no dtype given, when this CPU decodes them faster (cpu_dtype.py)
    and the checkpoint is stored in fp32 (a 4-bit grid survives no narrower dtype). Any other dtype,
    a GPU or --load-in-4bit loads as models.load does. The adapter goes on after packing."""
    say = progress or (lambda _text: None)
    on_cpu = models.pick_device(device) == "cpu"
    if dtype == "int4" and (not on_cpu or load_in_4bit or not kernel_available()):
        raise ModelLoadError("--dtype int4 runs on the CPU only, without --load-in-4bit, with torch's int4 CPU kernel")
    if dtype != "int4" and not (dtype is None and not load_in_4bit and on_cpu):
        return models.load(spec, adapter, device=device, dtype=dtype, load_in_4bit=load_in_4bit,
                           force_adapter=force_adapter, progress=progress)
    folder = models.resolve_model(spec, progress)
    if dtype is None and not (kernel_available() and _stored_in_fp32(folder) and cpu_dtype.int4_pays()):
        return models.load(folder, adapter, device="cpu", force_adapter=force_adapter, progress=progress)
    loaded = models.load(folder, device="cpu", dtype="float32", progress=progress)
    loaded.packed_layers = pack_model(loaded.model)
    if not loaded.packed_layers:
        if dtype == "int4":
            say("note: no layer of this model is on a 4-bit grid; it runs in fp32")
        else:  # what models.load would have chosen
            loaded.dtype = models.pick_dtype("cpu")
            loaded.model.to(loaded.dtype)
    if adapter:
        loaded.model, loaded.adapter = models.attach_adapter(loaded.model, adapter, loaded.name, force_adapter)
    return loaded


def _stored_in_fp32(folder: Any) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return str(config.get("dtype", config.get("torch_dtype"))) == "float32"
