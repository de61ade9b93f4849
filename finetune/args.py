"""Typed arguments of `python -m finetune`: our model/data/method dataclasses plus Hugging Face
`TrainingArguments`, so a command written for `transformers.Trainer` runs unchanged.

A YAML or JSON config file may stand in for (or sit under) the flags: `python -m finetune run.yaml`
or `--config run.yaml --learning_rate 1e-4` (flags given on the command line win).
"""
from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuichat.errors import ConfigError

# Spellings the seed's command used that TrainingArguments does not know (Lightning's names).
FLAG_ALIASES = {
    "--gradient_clip_val": "--max_grad_norm",
    "--data_loader_num_workers": "--dataloader_num_workers",
    "--gradient-clip-val": "--max_grad_norm",
    "--data-loader-num-workers": "--dataloader_num_workers",
}
LENGTH_STRATEGIES = ("truncate", "drop")


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Hugging Face model folder or .gguf file (default: the embedded SmolLM2-135M-Instruct)"},
    )


@dataclass
class DataArguments:
    dataset_path: str | None = field(
        default=None,
        metadata={"help": "Alpaca (instruction/input/output) or chat (messages) data: .csv .json .jsonl .parquet "
                  "(default: the sample shipped in finetune/data/); several files joined by commas are mixed, "
                  "e.g. alpaca_en.json,alpaca_zh.json"},
    )
    max_length: int = field(default=1024, metadata={"help": "tokens per example (prompt + response + EOS)"})
    length_strategy: str = field(
        default="truncate",
        metadata={"help": "what to do with examples longer than --max_length: truncate or drop"},
    )
    train_on_inputs: bool = field(default=False, metadata={"help": "also train on the prompt tokens (default: response only)"})
    val_size: float = field(
        default=0.0,
        metadata={"help": "hold out this many examples (>= 1) or this fraction (< 1) to report held-out "
                  "response loss before and after training"},
    )
    padding_free: bool = field(
        default=True,
        metadata={"help": "concatenate each batch into one row with restarting position ids (no padding; "
                  "attention stays within each example); --padding_free false pads instead"},
    )


@dataclass
class MethodArguments:
    use_lora: bool = field(default=False, metadata={"help": "train a LoRA adapter instead of all weights"})
    use_qlora: bool = field(default=False, metadata={"help": "LoRA on a 4-bit NF4 base (bitsandbytes)"})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata={"help": "module names to adapt (default: all linear layers except the output head)"},
    )
    logging_dir: str | None = field(
        default=None,
        metadata={"help": "where loss.csv / loss.png / loss.xlsx go (default: --output_dir); accepted "
                  "because the seed's command passes it (TrainingArguments 5 dropped it)"},
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "start afresh even if --output_dir holds another run (deletes it)"}
    )
    config: str | None = field(default=None, metadata={"help": "YAML or JSON file with any of these arguments"})


@dataclass
class FinetuneArgs:
    model: ModelArguments
    data: DataArguments
    method: MethodArguments
    training: Any  # transformers.TrainingArguments
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "model": asdict(self.model), "data": asdict(self.data), "method": asdict(self.method),
            "training": json.loads(self.training.to_json_string()),
        }


def _config_to_argv(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError carry the line
        raise ConfigError(f"cannot read config {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"config {path} must be a mapping of argument names to values")
    argv: list[str] = []
    for key, value in values.items():
        if value is None:
            continue
        flag = f"--{key}"
        if isinstance(value, list):
            argv += [flag, *map(str, value)]
        elif isinstance(value, dict):
            argv += [flag, json.dumps(value)]
        else:
            argv += [flag, str(value)]
    return argv


def _apply_aliases(argv: list[str], notes: list[str]) -> list[str]:
    out = []
    for token in argv:
        name, eq, value = token.partition("=")
        if name in FLAG_ALIASES:
            notes.append(f"note: {name} is read as {FLAG_ALIASES[name]} (the Trainer's name for it)")
            token = FLAG_ALIASES[name] + eq + value
        out.append(token)
    return out


def _expand_config(argv: list[str]) -> list[str]:
    """`finetune run.yaml [flags]` or `--config run.yaml`: the file's values go first, so flags win."""
    if argv and not argv[0].startswith("-") and Path(argv[0]).suffix.lower() in {".yaml", ".yml", ".json"}:
        return _config_to_argv(Path(argv[0])) + argv[1:]
    for i, token in enumerate(argv):
        if token == "--config" and i + 1 < len(argv):
            return _config_to_argv(Path(argv[i + 1])) + argv[:i] + argv[i + 2:]
        if token.startswith("--config="):
            return _config_to_argv(Path(token.split("=", 1)[1])) + argv[:i] + argv[i + 1:]
    return argv


def build_parser():
    from transformers import HfArgumentParser, TrainingArguments

    return HfArgumentParser(
        (ModelArguments, DataArguments, MethodArguments, TrainingArguments),
        prog="finetune", allow_abbrev=False,  # a typo must not silently pick a longer flag
        description="Instruction-tune a model tuichat can chat with (full, LoRA or QLoRA).",
    )


def parse_args(argv: list[str] | None = None) -> FinetuneArgs:
    """Parse flags (and an optional config file) into typed arguments; ConfigError on anything unknown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    notes: list[str] = []
    argv = _apply_aliases(_expand_config(argv), notes)
    parser = build_parser()
    wants_help = bool({"-h", "--help"} & set(argv))
    if not wants_help and "--output_dir" not in " ".join(argv).replace("=", " ").split():
        raise ConfigError("--output_dir is required (where checkpoints and the adapter or model go), e.g. --output_dir runs/my-run")
    model, data, method, training, rest = parser.parse_args_into_dataclasses(
        args=argv, return_remaining_strings=True, look_for_args_file=False
    )
    if rest:
        flag = next((t for t in rest if t.startswith("-")), rest[0])
        known = [o for a in parser._actions for o in a.option_strings]
        close = difflib.get_close_matches(flag.split("=")[0], known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"unknown argument {flag}{hint}; see `python -m finetune --help`")
    _validate(data, method)
    return FinetuneArgs(model, data, method, training, notes)


def _validate(data: DataArguments, method: MethodArguments) -> None:
    if data.length_strategy not in LENGTH_STRATEGIES:
        raise ConfigError(f"--length_strategy must be one of {', '.join(LENGTH_STRATEGIES)}, not {data.length_strategy!r}")
    if data.max_length < 8:
        raise ConfigError(f"--max_length {data.max_length} is too small to hold a prompt and a response")
    if data.val_size < 0:
        raise ConfigError("--val_size must be >= 0")
    if method.use_qlora:
        method.use_lora = True  # QLoRA is LoRA on a 4-bit base
