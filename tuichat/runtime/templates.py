"""Prompt templates shared by chat (tuichat) and training (finetune), so both format turns the same way.

A model whose tokenizer has a chat template uses it. A base model without one gets the classic
Alpaca template, the one `finetune` trains with; multi-turn history is folded into it.
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
ALPACA_NAME = "alpaca"
CHAT_TEMPLATE_NAME = "chat_template"


def alpaca_prompt(instruction: str, input: str = "") -> str:
    if input and input.strip():
        return ALPACA_WITH_INPUT.format(instruction=instruction, input=input)
    return ALPACA_NO_INPUT.format(instruction=instruction)


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def template_name(tokenizer: Any) -> str:
    return CHAT_TEMPLATE_NAME if has_chat_template(tokenizer) else ALPACA_NAME


def alpaca_from_messages(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """Fold a chat into the Alpaca template: system + earlier turns become the context (the Input),
    the last user message the Instruction. Completed assistant turns are appended after Response."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    # The last user message is the instruction; everything before it is conversation context.
    last_user = max((i for i, m in enumerate(turns) if m["role"] == "user"), default=None)
    if last_user is None:
        return system
    context_lines = [f"{m['role'].capitalize()}: {m['content']}" for m in turns[:last_user]]
    context = "\n".join(([system] if system else []) + context_lines)
    text = alpaca_prompt(turns[last_user]["content"], context)
    for m in turns[last_user + 1 :]:
        if m["role"] == "assistant":
            text += m["content"]
    return text


def render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt text for `messages`, by the chat template when present, else Alpaca."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    return alpaca_from_messages(messages, add_generation_prompt)


def render_jinja(template: str, messages: list[dict[str, str]], special_tokens: dict[str, str],
                 add_generation_prompt: bool = True) -> str:
    """Render a chat template the way transformers' `apply_chat_template` does (same sandbox, same
    whitespace rules, same helpers), without importing transformers: the llama.cpp backend renders
    the GGUF's own template with this, and the tests check both give the same text."""
    return _compile(template).render(
        messages=[dict(m) for m in messages], tools=None, documents=None,
        add_generation_prompt=add_generation_prompt, **special_tokens,
    )


@lru_cache(maxsize=8)
def _compile(template: str) -> Any:
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)
