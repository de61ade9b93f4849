"""`python -m finetune merge`: fold a LoRA/QLoRA adapter into its base and save a plain model folder.

The base is always loaded un-quantised (a QLoRA adapter is merged into the full-precision weights,
not into 4-bit ones, which would lose the adapter's small updates to rounding).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tuichat.runtime import adapter_files, models
from tuichat.errors import AdapterMismatchError, TuichatError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="finetune merge", description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--adapter", required=True, help="adapter folder written by `python -m finetune --use_lora`")
    p.add_argument("--output_dir", required=True, help="new folder for the merged model (must not exist or be empty)")
    p.add_argument("--model_name_or_path", default=None,
                   help="base model (default: the one recorded in the adapter's tuichat_adapter.json)")
    p.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16 for the saved weights")
    p.add_argument("--force", action="store_true", help="merge even if the base differs from the training base")
    return p


def merge(adapter: Path, output_dir: Path, base_spec: str | None = None, dtype: str = "float32", force: bool = False) -> Path:
    if not (adapter / "adapter_config.json").is_file():
        raise TuichatError(f"{adapter} is not an adapter folder (no adapter_config.json)")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise TuichatError(f"--output_dir {output_dir} is not empty; choose a new folder")
    meta_file = adapter / adapter_files.ADAPTER_META
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    if base_spec is None:
        base_spec = meta.get("base_model_path") or json.loads((adapter / "adapter_config.json").read_text()).get(
            "base_model_name_or_path")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = models.resolve_model(base_spec)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=models.pick_dtype("cpu", dtype))
    want = meta.get("base_fingerprint")
    if want and not force and want != adapter_files.base_fingerprint(model):
        raise AdapterMismatchError(
            f"adapter {adapter} was trained on {meta.get('base_model', '?')}, not on {base}; pass the right "
            "--model_name_or_path (or --force)"
        )
    with torch.no_grad():
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    output_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(output_dir))
    AutoTokenizer.from_pretrained(str(adapter)).save_pretrained(str(output_dir))
    info = {**meta, "merged_from_adapter": str(adapter.resolve()), "method": f"{meta.get('method', 'lora')} (merged)"}
    (output_dir / "finetune_merged.json").write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str))
    return output_dir


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    out = merge(Path(args.adapter).expanduser(), Path(args.output_dir).expanduser(), args.model_name_or_path,
                args.dtype, args.force)
    print(f"Merged model written to {out}; chat with it: tuichat --model {out}")
    return 0
