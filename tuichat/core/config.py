"""Settings: built-in defaults < config.toml in the user config dir < command-line flags.

The TOML file is validated strictly: an unknown key or a value of the wrong type is a one-line
error that names the key, so a typo never silently does nothing.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tuichat import paths
from tuichat.errors import ConfigError
from tuichat.runtime.base import GenerationParams

EXAMPLE = """\
# tuichat settings. Command-line flags override these.
# model = "/path/to/hf-model-folder-or-file.gguf"   # default: the embedded SmolLM2-135M-Instruct
# adapter = "runs/my-lora"
# persona = "assistant"
# temperature = 0.7         # 0 = greedy
# top_p = 0.9
# max_new_tokens = 512
# repetition_penalty = 1.1
# context_budget = 1024     # prompt tokens: persona + references + recent turns
# knowledge_dir = "~/notes"
# gate = 0.5                # minimum retrieval score for references to enter the prompt
# embedder = "auto"         # knowledge embedder: auto (e5 for mostly-CJK folders), minilm, e5
# top_k = 4
# backend = "openai"        # chat through an OpenAI-compatible server (vLLM, llama.cpp server, …)
# base_url = "http://127.0.0.1:8000/v1"
# model = "served-model-name"
# api_key_env = "OPENAI_API_KEY"   # the variable's name; the key itself is never stored
# tokenizer = "/path/to/hf-tokenizer-folder"  # only for servers without a tokenise endpoint
# server_timeout = 60       # seconds a stalled stream is waited for
# [keys]                    # remap app shortcuts: action = "key"
# new_session = "ctrl+n"
"""


@dataclass
class Settings:
    model: str | None = None
    adapter: str | None = None
    persona: str = "assistant"
    # Sampling defaults: GenerationParams holds the one copy of them.
    temperature: float = GenerationParams.temperature
    top_p: float = GenerationParams.top_p
    max_new_tokens: int = GenerationParams.max_new_tokens
    repetition_penalty: float = GenerationParams.repetition_penalty
    seed: int | None = GenerationParams.seed
    context_budget: int = 1024
    knowledge_dir: str | None = None
    knowledge: bool = True
    gate: float = 0.5
    embedder: str = "auto"
    top_k: int = 4
    load_in_4bit: bool = False
    device: str | None = None
    dtype: str | None = None
    backend: str | None = None  # "transformers", "llamacpp" or "openai"; None = llama.cpp for GGUF models
    # A model on an OpenAI-compatible server (backend = "openai"): `model` is then its served name.
    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the environment variable holding the key
    tokenizer: str | None = None  # local tokenizer folder, when the server has no tokenise endpoint
    server_timeout: float = 60.0  # seconds without a byte from the server before an answer stops
    keys: dict[str, str] = field(default_factory=dict)
    # Names set by the config file or the command line: they win over a persona's own overrides.
    explicit: frozenset[str] = field(default_factory=frozenset, compare=False)

    def generation_params(self, overrides: dict[str, Any] | None = None) -> GenerationParams:
        values = {
            "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty, "seed": self.seed,
        }
        # Precedence: defaults < persona's generation overrides < config file < command line.
        values.update({k: v for k, v in (overrides or {}).items() if k in values and k not in self.explicit})
        return GenerationParams(**values)

    def with_overrides(self, **values: Any) -> "Settings":
        """Apply command-line values that were actually given (None means 'not given'), checked like
        the config file's, so a bad flag is refused before a model loads or history is touched."""
        given = {k: v for k, v in values.items() if v is not None}
        for key, value in given.items():
            if key in _RANGES and not _RANGES[key][0] <= value <= _RANGES[key][1]:
                lo, hi = _RANGES[key]
                raise ConfigError(f"--{key.replace('_', '-')} {value} is out of range ({lo} … {hi})")
        return replace(self, **given, explicit=self.explicit | set(given))


INTERNAL_FIELDS = frozenset({"explicit"})  # bookkeeping, never a setting a file may set

_RANGES = {
    "temperature": (0.0, 5.0), "top_p": (1e-6, 1.0), "max_new_tokens": (1, 1_000_000),
    "repetition_penalty": (1e-6, 10.0), "context_budget": (64, 10_000_000), "gate": (-1.0, 1.0),
    "top_k": (1, 100), "server_timeout": (0.1, 3600.0),
}


def _check_type(key: str, value: Any, annotation: str) -> Any:
    expect_int = "int" in annotation and "float" not in annotation
    if annotation.startswith("dict"):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"config key '{key}' must be a table of strings, e.g. [{key}] name = \"value\"; got {value!r}")
    elif "float" in annotation and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
    elif expect_int and isinstance(value, int) and not isinstance(value, bool):
        pass
    elif "bool" in annotation and isinstance(value, bool):
        pass
    elif "str" in annotation and isinstance(value, str):
        pass
    else:
        raise ConfigError(f"config key '{key}' has a value of the wrong type: {value!r} (expected {annotation})")
    if key in _RANGES:
        lo, hi = _RANGES[key]
        if not lo <= value <= hi:
            raise ConfigError(f"config key '{key}' = {value!r} is out of range ({lo} … {hi})")
    return value


def load_settings(path: Path | None = None) -> Settings:
    path = Path(path) if path else paths.config_file()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {str(exc).splitlines()[0]}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    known = {f.name: str(f.type) for f in fields(Settings) if f.name not in INTERNAL_FIELDS}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"unknown config key '{key}' in {path} (known: {', '.join(sorted(known))})")
        values[key] = _check_type(key, value, known[key])
    return Settings(**values, explicit=frozenset(values))


def write_example(path: Path | None = None) -> Path:
    path = Path(path) if path else paths.config_file()
    if not path.exists():
        path.write_text(EXAMPLE, encoding="utf-8")
    return path
