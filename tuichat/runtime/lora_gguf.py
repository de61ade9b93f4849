"""PEFT LoRA → GGUF LoRA, so llama.cpp can apply an adapter made by `finetune` (or any PEFT LoRA
for the same base). Converted once per adapter content, cached in the user cache; no torch.

The GGUF adapter stores alpha = 0, which llama.cpp reads as "scale 1": PEFT's own scaling
(alpha/r, or alpha/sqrt(r) for rsLoRA, per module when rank/alpha patterns are used) is multiplied
into each B matrix instead, so every module gets exactly PEFT's scale.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from tuichat import paths
from tuichat.errors import ModelLoadError
from tuichat.runtime import adapter_files, gguf_files, models

CONVERTER_VERSION = "1"
_SUFFIXES = (".lora_A.weight", ".lora_B.weight")


def converted_lora(folder: Path, base_gguf: Path, base_name: str, force: bool = False) -> Path:
    """Check that `folder` is a LoRA for this base, convert it once, return the GGUF adapter's path."""
    if not folder.is_dir():
        raise ModelLoadError(f"adapter path does not exist: {folder}")
    header = gguf_files.read_header(base_gguf)
    adapter_files.check_adapter(folder, base_name, lambda: gguf_files.embedding_fingerprint(header),
                         {base_gguf.stem.lower(), models.converted_folder_name(base_gguf).lower()}, force)
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(f"{folder} has no adapter_model.safetensors (the llama.cpp backend reads only safetensors adapters)")
    digest = hashlib.sha256(CONVERTER_VERSION.encode() + header.architecture.encode())
    for part in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((folder / part).read_bytes())
    target = paths.cache_dir() / "lora-gguf" / f"{folder.name}-{digest.hexdigest()[:16]}.gguf"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _convert(folder, header, target)
        finally:
            Path(str(target) + ".part").unlink(missing_ok=True)  # left only by a failed conversion
    return target


def _read_safetensors(path: Path) -> dict[str, Any]:
    """Tensors as float32 numpy arrays (bf16 widened by hand: numpy has no bf16; no torch needed)."""
    import numpy as np

    kinds = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64}
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    meta = json.loads(raw[8 : 8 + size])
    base = 8 + size
    out = {}
    for name, info in meta.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in kinds:
            raise ModelLoadError(f"{path}: tensor {name} has dtype {info['dtype']}, which the converter does not read")
        start, end = info["data_offsets"]
        array = np.frombuffer(raw[base + start : base + end], dtype=kinds[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        out[name] = array.astype(np.float32)
    return out


def _scales(config: dict[str, Any], module: str, rank: int) -> float:
    """PEFT's scaling for one module, honouring rank_pattern / alpha_pattern and rsLoRA."""
    short = module.split(".")[-1]
    alpha = config.get("lora_alpha", rank)
    for key, value in (config.get("alpha_pattern") or {}).items():
        if module.endswith(key) or short == key:
            alpha = value
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def _permute_rows(b: Any, heads: int) -> Any:
    """llama.cpp's rotary layout for q/k rows (what convert_hf_to_gguf does to the base weights)."""
    return b.reshape(heads, 2, b.shape[0] // heads // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def _convert(folder: Path, header: gguf_files.GGUFHeader, target: Path) -> None:
    import gguf
    import numpy as np

    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    arch = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == header.architecture), None)
    if arch is None:
        raise ModelLoadError(f"cannot convert {folder}: the converter does not know the architecture '{header.architecture}'")
    names = gguf.get_tensor_name_map(arch, int(header.arch_field("block_count", 0)))
    tensors = _read_safetensors(folder / "adapter_model.safetensors")
    pairs: dict[str, dict[str, Any]] = {}
    unmappable: list[str] = []
    for key, value in tensors.items():
        suffix = next((s for s in _SUFFIXES if key.endswith(s)), None)
        module = key[: -len(suffix)].removeprefix("base_model.model.") if suffix else key
        gguf_name = names.get_name(module) if suffix else None
        if gguf_name is None or f"{gguf_name}.weight" not in header.tensors:
            unmappable.append(module)
            continue
        pairs.setdefault(gguf_name, {"module": module})["a" if suffix == _SUFFIXES[0] else "b"] = value
    if unmappable:
        shown = sorted(set(unmappable))
        raise ModelLoadError(
            f"cannot convert {folder} for llama.cpp: no GGUF tensor for {', '.join(shown[:4])}"
            + (f" (+{len(shown) - 4} more)" if len(shown) > 4 else "") + "; use --backend transformers"
        )
    writer = gguf.GGUFWriter(str(target) + ".part", header.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 0.0)  # 0 = "scale 1": PEFT's scale is in B
    heads, kv_heads = header.arch_field("attention.head_count"), header.arch_field("attention.head_count_kv")
    for gguf_name, pair in sorted(pairs.items()):
        if "a" not in pair or "b" not in pair:
            raise ModelLoadError(f"{folder}: {pair['module']} has only one of lora_A / lora_B")
        a, b = pair["a"], pair["b"] * _scales(config, pair["module"], pair["a"].shape[0])
        if header.architecture == "llama" and gguf_name.endswith(("attn_q", "attn_k")):
            b = _permute_rows(b, heads if gguf_name.endswith("attn_q") else (kv_heads or heads))
        writer.add_tensor(f"{gguf_name}.weight.lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(f"{gguf_name}.weight.lora_b", np.ascontiguousarray(b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(str(target) + ".part", target)  # atomic: a half-written adapter is never used
