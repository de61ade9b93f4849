"""Counting prompt tokens for a model that runs on a server, so the context budget stays exact.

In order of preference:
1. `server` — vLLM's `POST /tokenize` with the messages: the server renders its own chat template
   and tokenises; exact, token ids included.
2. `server` — llama.cpp server's `POST /extras/tokenize` (llama-cpp-python): it tokenises text but
   does not render the template, so each message's role and content are tokenised by the server
   and the template's own tokens (per message, and at the start with/without a system message) are
   measured once from the server's `usage.prompt_tokens` on three one-token probe requests. Exact
   for ChatML-style templates (SmolLM2, Qwen, …: checked against `usage.prompt_tokens` in the
   tests, Chinese and odd whitespace included); other templates may differ by a token per message
   whose content starts with whitespace.
3. `tokenizer` — a local Hugging Face tokenizer folder (`--tokenizer PATH`) and its chat template.
4. `estimate` — characters ÷ 4 (one per CJK character) plus a few tokens per message; shown as
   an estimate wherever a count is shown.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import httpx

from tuichat.runtime.base import Message

PROBE_TEXT = "Hi"
ESTIMATE_PER_MESSAGE = 4
CACHE_SIZE = 4096


class TokenCounter:
    kind = "estimate"  # "server", "tokenizer" or "estimate"

    def count(self, messages: list[Message]) -> int:
        total = 0
        for m in messages:
            text = m["content"]
            wide = sum(1 for ch in text if ord(ch) > 0x2E80)  # CJK and beyond: about one token each
            total += ESTIMATE_PER_MESSAGE + wide + (len(text) - wide + 3) // 4
        return total + 1

    def ids(self, messages: list[Message]) -> list[int] | None:
        return None


class VllmCounter(TokenCounter):
    """vLLM: `POST {root}/tokenize {"model", "messages", "add_generation_prompt"}` → ids + count."""

    kind = "server"

    def __init__(self, client: httpx.Client, root: str, model: Callable[[], str]) -> None:
        self.client, self.url, self.model = client, root + "/tokenize", model

    def ids(self, messages: list[Message]) -> list[int] | None:
        body = {"model": self.model(), "messages": messages, "add_generation_prompt": True}
        response = self.client.post(self.url, json=body)
        response.raise_for_status()
        return list(response.json()["tokens"])

    def count(self, messages: list[Message]) -> int:
        return len(self.ids(messages) or [])

    @classmethod
    def probe(cls, client: httpx.Client, root: str, model: Callable[[], str]) -> "VllmCounter | None":
        counter = cls(client, root, model)
        try:
            counter.ids([{"role": "user", "content": PROBE_TEXT}])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None
        return counter


class LlamaCppCounter(TokenCounter):
    """llama-cpp-python server: contents tokenised by the server + the template's measured overhead."""

    kind = "server"

    def __init__(self, client: httpx.Client, root: str, model: Callable[[], str],
                 prompt_tokens: Callable[[list[Message]], int]) -> None:
        self.client, self.url, self.model = client, root + "/extras/tokenize", model
        self.prompt_tokens = prompt_tokens  # usage.prompt_tokens of a one-token chat completion
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._overhead: tuple[int, int, int] | None = None  # per message, start with system, without

    def _tokens(self, text: str) -> int:
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        response = self.client.post(self.url, json={"model": self.model(), "input": text})
        response.raise_for_status()
        n = len(response.json()["tokens"])
        self._cache[text] = n
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return n

    def _content(self, text: str) -> int:
        return self._tokens(text) - self._tokens("")  # without the BOS the endpoint adds to any text

    def _message(self, m: Message) -> int:
        # Role and content as one piece of text, as ChatML-style templates write them
        # ("<|im_start|>" role "\n" content "<|im_end|>"): leading spaces or newlines of the content
        # then merge with the newline into the same tokens the server's own prompt has.
        return self._content(f"{m['role']}\n{m['content']}")

    def _calibrate(self) -> tuple[int, int, int]:
        if self._overhead is None:
            def probe(*roles: str) -> list[Message]:
                return [{"role": r, "content": PROBE_TEXT} for r in roles]

            piece = {r: self._message(probe(r)[0]) for r in ("system", "user", "assistant")}
            u0 = self.prompt_tokens(probe("user"))
            u1 = self.prompt_tokens(probe("system", "user"))
            u2 = self.prompt_tokens(probe("system", "user", "assistant", "user"))
            per_message = (u2 - u1 - piece["user"] - piece["assistant"]) // 2
            with_system = u1 - 2 * per_message - piece["system"] - piece["user"]
            without = u0 - per_message - piece["user"]
            self._overhead = (per_message, with_system, without)
        return self._overhead

    def count(self, messages: list[Message]) -> int:
        per_message, with_system, without = self._calibrate()
        start = with_system if messages and messages[0]["role"] == "system" else without
        return start + sum(per_message + self._message(m) for m in messages)

    @classmethod
    def probe(cls, client: httpx.Client, root: str, model: Callable[[], str],
              prompt_tokens: Callable[[list[Message]], int]) -> "LlamaCppCounter | None":
        counter = cls(client, root, model, prompt_tokens)
        try:
            counter._tokens(PROBE_TEXT)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None
        return counter


class LocalCounter(TokenCounter):
    """A local Hugging Face tokenizer folder and its chat template (`--tokenizer PATH`)."""

    kind = "tokenizer"

    def __init__(self, path: str) -> None:
        from transformers import AutoTokenizer

        from tuichat.errors import ConfigError

        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load a tokenizer from {path}: {str(exc).splitlines()[0]}") from None

    def render(self, messages: list[Message]) -> str:
        from tuichat.runtime import templates

        return templates.render(self.tokenizer, messages, add_generation_prompt=True)

    def ids(self, messages: list[Message]) -> list[int] | None:
        from tuichat.runtime import templates

        special = not templates.has_chat_template(self.tokenizer)
        return self.tokenizer(self.render(messages), add_special_tokens=special)["input_ids"]

    def count(self, messages: list[Message]) -> int:
        return len(self.ids(messages) or [])
