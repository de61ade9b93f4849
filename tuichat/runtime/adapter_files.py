"""What an adapter folder says about itself, and whether it fits a base model: its JSON files
(PEFT's `adapter_config.json`, tuichat's `tuichat_adapter.json` written by `finetune`) and the base
weights' fingerprint it records. Both backends and `finetune` use these, so the rules are one."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from tuichat.errors import AdapterMismatchError, ModelLoadError

ADAPTER_META = "tuichat_adapter.json"


def base_fingerprint(model: Any) -> str:
    """A short id of the base weights: shape + a bf16-rounded slice of the input embeddings.

    Rounding to bf16 makes fp32, bf16 and 4-bit loads of the same checkpoint agree (embeddings are
    never quantised), while a different checkpoint (base vs instruct, another family) differs.
    """
    import torch

    emb = model.get_input_embeddings().weight
    rows = emb[: min(64, emb.shape[0]), : min(64, emb.shape[1])].detach().to("cpu", torch.bfloat16)
    digest = hashlib.sha256(str(tuple(emb.shape)).encode() + rows.float().numpy().tobytes()).hexdigest()
    return digest[:16]


def read_adapter_json(path: Path) -> dict:
    """An adapter's JSON file as a dict; a corrupt one is a one-line ModelLoadError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path} is not valid JSON (line {exc.lineno}): the adapter is damaged; retrain or restore it") from None
    except UnicodeDecodeError:
        raise ModelLoadError(f"{path} is not UTF-8 text: the adapter is damaged; retrain or restore it") from None
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object, not {type(data).__name__}: the adapter is damaged")
    return data


def check_adapter(adapter: Path, base_name: str, fingerprint: Callable[[], str], other_names: set[str],
                  force: bool) -> None:
    """Refuse, naming both models, an adapter made for another base. Either backend supplies the
    base's fingerprint (computed only when the adapter records one) and other names it goes by."""
    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")
    config = read_adapter_json(config_file)  # even when forced: a corrupt file is one line, not a traceback
    if force:
        return
    meta_file = adapter / ADAPTER_META
    if meta_file.is_file():
        meta = read_adapter_json(meta_file)
        want = meta.get("base_fingerprint")
        if want and want != fingerprint():
            raise AdapterMismatchError(
                f"adapter {adapter} was trained on {meta.get('base_model', '?')}, not on {base_name}; "
                f"pass --model for that base (or --force-adapter to apply it anyway)"
            )
        return
    declared = config.get("base_model_name_or_path") or ""
    if declared and Path(declared).name.lower() not in {base_name.lower()} | other_names:
        raise AdapterMismatchError(
            f"adapter {adapter} was made for {declared}, not for {base_name}; "
            f"pass --model for that base (or --force-adapter to apply it anyway)"
        )
