"""Arguments and helpers shared by every command that runs a model (chat, ask, eval persona, …)."""
from __future__ import annotations

import argparse
import sys


def add_model_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", default=None, help="Hugging Face model folder or .gguf file (default: embedded SmolLM2-135M-Instruct)")
    g.add_argument("--adapter", default=None, help="PEFT LoRA adapter folder, e.g. one written by `finetune`")
    g.add_argument("--force-adapter", action="store_true", help="apply the adapter even if it was made for another base model")
    g.add_argument("--load-in-4bit", action="store_true", help="load the model 4-bit (NF4) through bitsandbytes")
    g.add_argument("--device", default=None, help="cuda, cpu, … (default: cuda when present)")
    g.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (default: the fastest measured here)")
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


def load_engine(args: argparse.Namespace, progress=None):
    """A model runtime for the model arguments in `args` (heavy imports happen here, not at import time)."""
    if getattr(args, "backend", None) == "openai":
        from tuichat.runtime.openai_backend import OpenAIRuntime

        return OpenAIRuntime(args.base_url or "", args.model, args.api_key_env, args.tokenizer)
    from tuichat.runtime.loader import load_runtime

    return load_runtime(
        args.model, args.adapter, backend=getattr(args, "backend", None), device=args.device, dtype=args.dtype,
        load_in_4bit=args.load_in_4bit, force_adapter=args.force_adapter,
        progress=progress or (lambda text: print(text, file=sys.stderr)),
    )
