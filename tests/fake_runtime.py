"""A small ModelRuntime for tests whose behaviour does not depend on the model (prompt assembly,
session logic, history): one token per word, answers written word by word on a real thread, so
streaming, cancelling and the session's bookkeeping run exactly as with a real backend."""
from __future__ import annotations

import threading
import time

from tuichat.runtime.base import AnswerStats, GenerationParams, Message, Stream


class FakeRuntime:
    backend = "fake"
    device = "cpu"

    def __init__(self, answers: list[str] | None = None, delay_s: float = 0.0) -> None:
        self.answers = list(answers or [])
        self.delay_s = delay_s
        self.prompts: list[list[Message]] = []  # every prompt streamed, in order
        self._adapters: list[str] = []
        self._active: str | None = None
        self._count = 0

    @property
    def model_name(self) -> str:
        return "fake-model" + (f"+{self._active}" if self._active else "")

    def render(self, messages: list[Message]) -> str:
        return "".join(f"<{m['role']}> {m['content']}\n" for m in messages) + "<assistant>"

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        return list(range(len(self.render(messages).split())))

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self.render(messages).split())

    def stream(self, messages: list[Message], params: GenerationParams | None = None,
               cancel: threading.Event | None = None, prompt_ids: list[int] | None = None) -> Stream:
        self.prompts.append([dict(m) for m in messages])
        self._count += 1
        answer = self.answers.pop(0) if self.answers else f"answer {self._count} to: {messages[-1]['content'][:40]}"
        stream = Stream(cancel)
        limit = (params or GenerationParams()).max_new_tokens

        def run() -> None:
            start = time.monotonic()
            stream.stats = AnswerStats(prompt_tokens=len(prompt_ids or self.prompt_ids(messages)))
            words = answer.split(" ")
            for i, word in enumerate(words[:limit]):
                if stream.cancelled:
                    stream.stats.finish_reason = "cancelled"
                    break
                if self.delay_s:
                    time.sleep(self.delay_s)
                stream.put(word if i == 0 else " " + word)
                stream.stats.new_tokens += 1
            else:
                stream.stats.finish_reason = "eos" if len(words) <= limit else "length"
            stream.stats.total_s = time.monotonic() - start
            stream.close()

        threading.Thread(target=run, daemon=True).start()
        return stream

    def reset(self) -> None:
        pass

    def adapters(self) -> list[str]:
        return list(self._adapters)

    @property
    def active_adapter(self) -> str | None:
        return self._active

    def load_adapter(self, path: str, name: str | None = None) -> str:
        name = name or path.rstrip("/").rsplit("/", 1)[-1]
        self._adapters.append(name)
        return name

    def set_adapter(self, name: str | None) -> None:
        self._active = name
