"""The seam between the chat core and a model runtime. Light: no torch, no transformers.

A runtime (transformers, llama.cpp, an OpenAI-compatible server) renders and tokenises prompts with
the model's own chat template, streams answers as text deltas that can be cancelled between any two
tokens, and switches adapters. The core (prompt assembly, the session) sees only `ModelRuntime`.
"""
from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, runtime_checkable

from tuichat.errors import TuichatError

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@dataclass
class GenerationParams:
    """Sampling settings. The defaults here are the one source of sampling defaults."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 512
    # Divides the logit (multiplies it, when negative) of every token already in the context: the
    # whole prompt and the answer so far, each token once. This is transformers' and vLLM's meaning;
    # the llama.cpp backend widens llama.cpp's own 64-token window to the whole context to match.
    repetition_penalty: float = 1.1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise TuichatError(f"temperature must be ≥ 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise TuichatError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise TuichatError(f"max_new_tokens must be ≥ 1, got {self.max_new_tokens}")
        if self.repetition_penalty <= 0:
            raise TuichatError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass
class AnswerStats:
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV cache was kept from the previous turn
    new_tokens: int = 0
    ttft_s: float = 0.0
    total_s: float = 0.0
    finish_reason: str = ""  # "eos", "length", "cancelled" or "error"

    @property
    def tokens_per_s(self) -> float:
        """Decode speed: tokens after the first over the time after the first (prefill excluded)."""
        decode = self.total_s - self.ttft_s
        return (self.new_tokens - 1) / decode if self.new_tokens > 1 and decode > 0 else 0.0


_DONE = object()


class Stream:
    """One answer being generated. Iterate for text deltas; afterwards read `.text` and `.stats`.

    A backend's generating thread calls `put` for each delta and `close` once at the end (with the
    exception, if generation failed); the consumer iterates. `cancel` asks the backend to stop; it
    checks `cancelled` between tokens.
    """

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._cancel = cancel or threading.Event()
        self.text = ""
        self.stats = AnswerStats()
        self.error: BaseException | None = None
        self.notices: list[str] = []  # set by the backend before `stream` returns (e.g. an ignored setting)
        self.finished = threading.Event()

    # -- producer side (the backend) ---------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def put(self, delta: str) -> None:
        if delta:
            self.text += delta
            self._queue.put(delta)

    def close(self, error: BaseException | None = None) -> None:
        if error is not None:
            self.stats.finish_reason = "error"
            self.error = error
        self.finished.set()
        self._queue.put(_DONE)

    # -- consumer side -------------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def wait_cancelled(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a cancel (a backend waiting out a retry, or watching a
        blocked read); True if cancelled."""
        return self._cancel.wait(timeout)

    def __iter__(self) -> Iterator[str]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                break
            yield item
        if self.error is not None:
            raise self.error

    def wait(self) -> "Stream":
        for _ in self:
            pass
        return self


@runtime_checkable
class ModelRuntime(Protocol):
    """What the chat core needs from a loaded model, whatever runs it."""

    backend: str  # "transformers", "llamacpp", "openai"
    device: str  # shown in the status bar: "cpu", "cuda", a server URL …

    @property
    def model_name(self) -> str:
        """The base model's name, plus the active adapter when there is one."""
        ...

    def render(self, messages: list[Message]) -> str:
        """The prompt text, in the model's own chat template, ending with the assistant's turn."""
        ...

    def prompt_ids(self, messages: list[Message]) -> list[int] | None:
        """The prompt's token ids; None where the runtime sends messages, not ids (a server that
        renders its own template): prompt assembly then counts with `count_tokens`."""
        ...

    def count_tokens(self, messages: list[Message]) -> int: ...

    def stream(
        self,
        messages: list[Message],
        params: GenerationParams | None = None,
        cancel: threading.Event | None = None,
        prompt_ids: list[int] | None = None,
    ) -> Stream:
        """Start generating in the background and return at once."""
        ...

    def reset(self) -> None:
        """Forget any kept KV cache (the next prompt is prefilled from scratch)."""
        ...

    # -- adapters: several may be loaded; at most one is active; None = the base model ----------------
    def adapters(self) -> list[str]: ...

    @property
    def active_adapter(self) -> str | None: ...

    def load_adapter(self, path: str, name: str | None = None) -> str:
        """Load an adapter (once) under `name` (default: the folder's name) and return the name."""
        ...

    def set_adapter(self, name: str | None) -> None:
        """Activate a loaded adapter, or None for the base model."""
        ...


class PrefixWarming(ABC):
    """Mixed into a backend that keeps a KV cache: prefill, in the background, the tokens every next
    prompt will start with (persona, greeting, the conversation so far), so that the next answer
    only prefills the user's new message.

    The backend supplies `_lock` (held while generating) and `_fill_cache(ids)` (extend the kept
    cache to `ids`, reusing its common prefix), and calls `_void_pending_warms()` whenever it starts
    an answer, resets or switches weights: a warm asked for before then (or before a newer warm)
    is dropped, so it never replaces a fresher cache. An answer asked for while a warm runs waits
    for it (the lock); the warm prefix is the start of its prompt, so nothing is computed twice.
    """

    _lock: threading.Lock
    _warm_epoch = 0
    warm_ids: tuple[int, ...] = ()  # the last prefix warmed (warmed again after an adapter switch)
    _warm_threads: tuple[threading.Thread, ...] = ()

    @abstractmethod
    def _fill_cache(self, ids: list[int]) -> None:
        """Extend the kept KV cache to `ids`, reusing the prefix it already holds."""

    @abstractmethod
    def _forget_cache(self) -> None:
        """Drop the KV cache (a failed fill may have left it half-written)."""

    def _void_pending_warms(self) -> None:
        self._warm_epoch += 1

    def warm(self, prefix: Callable[[], list[int] | None]) -> threading.Thread:
        """Start warming and return at once; an earlier warm still waiting is dropped (the latest
        state wins). `prefix` is called on the warming thread (rendering and tokenising a long
        conversation stays off the caller's thread)."""
        self._void_pending_warms()
        epoch = self._warm_epoch
        # Not a daemon: a process that exits mid-warm waits for it (at most one prefill). A daemon
        # thread still inside llama.cpp or torch while the interpreter tears down crashed the
        # process (segfault; "terminate called without an active exception") on quit.
        thread = threading.Thread(target=self._warm, args=(prefix, epoch), daemon=False, name="tuichat-warm")
        thread.start()
        self._warm_threads = tuple(t for t in self._warm_threads if t.is_alive()) + (thread,)
        return thread

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Block until the warms asked for so far are done (benchmarks, tests); False on timeout."""
        for thread in self._warm_threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in self._warm_threads)

    def rewarm(self) -> threading.Thread | None:
        """Warm the last prefix again (after new weights made the cache useless)."""
        ids = list(self.warm_ids)
        return self.warm(lambda: ids) if ids else None

    def _warm(self, prefix: Callable[[], list[int] | None], epoch: int) -> None:
        # A speed-up only: on any failure the next answer prefills everything and reports its own
        # error, so nothing is raised here (a thread's traceback would land on the app's screen).
        try:
            ids = prefix()
            with self._lock:
                if epoch != self._warm_epoch or not ids:
                    return
                self.warm_ids = tuple(ids)
                try:
                    self._fill_cache(list(ids))
                except Exception:
                    self._forget_cache()
                    raise
        except Exception:  # noqa: BLE001
            pass
