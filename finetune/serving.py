"""What to run after training to serve the result with vLLM and chat with it through tuichat.

vLLM serves a LoRA adapter beside its base (`--enable-lora --lora-modules NAME=PATH`) under NAME;
tuichat's `--backend openai` lists it as an adapter of the served base. A full fine-tune is served
as a model of its own.
"""
from __future__ import annotations

import shlex
from pathlib import Path

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank accepts


def serve_commands(output_dir: Path, base_path: str, base_name: str, lora_rank: int | None) -> list[str]:
    """The `vllm serve …` command and the `tuichat …` command that talks to it."""
    out = Path(output_dir).resolve()
    q = shlex.quote
    if lora_rank is None:
        name = out.name
        serve = f"vllm serve {q(str(out))} --served-model-name {q(name)}"
        chat = f"tuichat --backend openai --base-url http://127.0.0.1:8000/v1 --model {q(name)}"
        return [serve, chat]
    rank = next((r for r in VLLM_LORA_RANKS if r >= lora_rank), lora_rank)
    serve = (f"vllm serve {q(base_path)} --served-model-name {q(base_name)} --enable-lora "
             f"--lora-modules {q(out.name + '=' + str(out))}" + (f" --max-lora-rank {rank}" if rank > 16 else ""))
    chat = (f"tuichat --backend openai --base-url http://127.0.0.1:8000/v1 --model {q(base_name)} "
            f"--adapter {q(out.name)}")
    return [serve, chat]
