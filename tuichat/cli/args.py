"""Arguments shared by every command that runs a model (chat, ask, the evals), and the one way they
become Settings: defaults < persona < config.toml < these flags (see `tuichat.core.config`)."""
from __future__ import annotations

import argparse


def add_model_args(parser: argparse.ArgumentParser, repeat_adapter: bool = False) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", default=None, help="Hugging Face model folder or .gguf file (default: embedded SmolLM2-135M-Instruct)")
    if repeat_adapter:  # chat: the first is active at start, all are offered in the picker (f2)
        g.add_argument("--adapter", action="append", default=None,
                       help="PEFT LoRA adapter folder, e.g. one written by `finetune` (repeatable: the first starts active)")
    else:
        g.add_argument("--adapter", default=None, help="PEFT LoRA adapter folder, e.g. one written by `finetune`")
    g.add_argument("--force-adapter", action="store_true", help="apply the adapter even if it was made for another base model")
    g.add_argument("--load-in-4bit", action="store_true", help="load the model 4-bit (NF4) through bitsandbytes")
    g.add_argument("--device", default=None, help="cuda, cpu, … (default: cuda when present)")
    g.add_argument("--dtype", default=None,
                   help="float32, bfloat16, float16 (plain weights) or int4 (CPU: layers already on a 4-bit grid, as in "
                        "a model converted from a Q4 GGUF, run packed; default: the fastest measured here)")
    g.add_argument("--backend", default=None, choices=("transformers", "llamacpp", "openai"),
                   help="model runtime (default: llamacpp for .gguf models and the embedded one, else transformers; "
                        "openai = an OpenAI-compatible server, see --base-url)")
    add_server_args(parser)


def add_server_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("server (--backend openai)")
    g.add_argument("--base-url", default=None, help="the server's URL, e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp server, SGLang, Ollama)")
    g.add_argument("--api-key-env", default=None, metavar="VAR", help="name of the environment variable that holds the API key")
    g.add_argument("--tokenizer", default=None, metavar="PATH", help="local tokenizer folder for exact token counts when the server cannot tokenise")


def add_sampling_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sampling")
    g.add_argument("--temperature", type=float, default=None, help="0 = greedy")
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--max-new-tokens", type=int, default=None)
    g.add_argument("--repetition-penalty", type=float, default=None)
    g.add_argument("--seed", type=int, default=None)


def settings_from_args(args: argparse.Namespace, **fixed):
    """config.toml (or --config) overridden by the flags that were given, then by `fixed` values."""
    from tuichat.core.config import load_settings

    def flag(name: str):
        return getattr(args, name, None)

    settings = load_settings(flag("config"))
    given = flag("adapter") or []  # chat repeats --adapter: the first starts active, the others wait in the picker
    given = given if isinstance(given, list) else [given]
    return settings.with_overrides(
        model=flag("model"), adapter=given[0] if given else None, adapters=given[1:] or None, persona=flag("persona"), temperature=flag("temperature"),
        top_p=flag("top_p"), max_new_tokens=flag("max_new_tokens"), repetition_penalty=flag("repetition_penalty"),
        seed=flag("seed"), context_budget=flag("context_budget"), knowledge_dir=flag("knowledge"),
        device=flag("device"), dtype=flag("dtype"), backend=flag("backend"),
        load_in_4bit=True if flag("load_in_4bit") else None, knowledge=False if flag("no_knowledge") else None,
        base_url=flag("base_url"), api_key_env=flag("api_key_env"), tokenizer=flag("tokenizer"),
        embedder=flag("embedder"),
    ).with_overrides(**fixed)


def open_eval_session(args: argparse.Namespace, settings, personas_dirs=()):
    """A session for an evaluation: the user's settings and prompt assembly, nothing stored."""
    from tuichat.bootstrap import open_session

    return open_session(settings, personas_dirs, getattr(args, "force_adapter", False), keep_history=False)
