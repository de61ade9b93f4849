"""A model served over HTTP by an OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama).

Behind the same `ModelRuntime` seam as the in-process backends. Answers stream from
`/v1/chat/completions` (server-sent events); the served names from `/v1/models` other than the
chosen model are its adapters (vLLM serves each `--lora-modules NAME=PATH` under NAME), and
choosing one sends that name. Cancelling closes the HTTP response: vLLM and llama.cpp stop
generating when the client disconnects.

httpx rather than the `openai` package: we need the raw stream (to close it on cancel and to
survive malformed lines), our own read timeout for stalls, Retry-After handling that a cancel can
interrupt, and non-OpenAI routes (`/tokenize`, `/extras/tokenize`); httpx is already installed,
and `openai` would add a client layer with its own retry policy on top of the same httpx.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx

from tuichat.errors import TuichatError
from tuichat.runtime import openai_http as http
from tuichat.runtime.base import GenerationParams, Message, Stream
from tuichat.runtime.openai_tokens import LlamaCppCounter, LocalCounter, TokenCounter, VllmCounter

FINISH = {"stop": "eos", "length": "length", "eos": "eos"}


class OpenAIRuntime:
    backend = "openai"

    def __init__(self, base_url: str, model: str | None = None, api_key_env: str | None = None,
                 tokenizer: str | None = None, read_timeout: float = 60.0, connect_timeout: float = 5.0) -> None:
        self.endpoint = http.endpoint(base_url)
        self.device = self.endpoint.shown
        self.key_env = api_key_env
        self._key = http.api_key(api_key_env)
        self.read_timeout = read_timeout
        self.client = httpx.Client(
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=30.0, pool=connect_timeout),
            headers=self.endpoint.headers(self._key),
        )
        self.served = self._served_models()
        if model is None:
            if not self.served:
                raise http.ServerError(f"the server at {self.device} serves no model")
            model = self.served[0]
        elif model not in self.served:
            raise http.ServerError(f"the server at {self.device} has no model '{model}' (served: {', '.join(self.served)})")
        self.base = model
        self._active: str | None = None
        self._reported: set[str] = set()  # sampling settings this server ignores, reported once
        self.counter = self._pick_counter(tokenizer)

    # -- connection -------------------------------------------------------------------------------
    def _get(self, url: str) -> httpx.Response:
        try:
            response = self.client.get(url)
        except httpx.HTTPError as exc:
            raise http.transport_error(exc, self.endpoint, self.read_timeout, False) from None
        if response.status_code != 200:
            raise http.status_error(response, self.endpoint, "", self.key_env)
        return response

    def _served_models(self) -> list[str]:
        try:
            data = self._get(self.endpoint.base_url + "/models").json()
            return [str(m["id"]) for m in data["data"]]
        except (ValueError, KeyError, TypeError):
            raise http.ServerError(f"{self.device} did not answer /v1/models like an OpenAI-compatible server") from None

    def _pick_counter(self, tokenizer: str | None) -> TokenCounter:
        root, name = self.endpoint.root, lambda: self.served_name
        counter = VllmCounter.probe(self.client, root, name) or LlamaCppCounter.probe(self.client, root, name, self._usage_prompt_tokens)
        if counter is None and tokenizer:
            counter = LocalCounter(tokenizer)
        self.server_kind = {VllmCounter: "vllm", LlamaCppCounter: "llama.cpp"}.get(type(counter), "openai")
        return counter or TokenCounter()

    def _usage_prompt_tokens(self, messages: list[Message]) -> int:
        body = {"model": self.served_name, "messages": messages, "max_tokens": 1, "temperature": 0}
        response = self.client.post(self.endpoint.base_url + "/chat/completions", json=body)
        response.raise_for_status()
        return int(response.json()["usage"]["prompt_tokens"])

    # -- names and adapters -------------------------------------------------------------------------
    @property
    def served_name(self) -> str:
        return self._active or self.base

    @property
    def model_name(self) -> str:
        return self.base + (f" + {self._active}" if self._active else "")

    def adapters(self) -> list[str]:
        """The other names the server serves (vLLM: one per `--lora-modules NAME=PATH`)."""
        return [name for name in self.served if name != self.base]

    @property
    def active_adapter(self) -> str | None:
        return self._active

    def load_adapter(self, path: str, name: str | None = None) -> str:
        raise TuichatError(
            "a server loads its own adapters: start it with them, e.g. "
            f"`vllm serve {self.base} --enable-lora --lora-modules NAME={path}`, then pick NAME"
        )

    def set_adapter(self, name: str | None) -> None:
        if name is not None and name not in self.adapters():
            self.served = self._served_models()  # the server may have been restarted with more
            if name not in self.adapters():
                raise TuichatError(f"the server serves no adapter named '{name}' (served: {', '.join(self.adapters()) or 'none'})")
        self._active = name

    def reset(self) -> None:
        """Nothing kept here: the server manages its own prefix cache."""

    # -- prompts -------------------------------------------------------------------------------------
    @property
    def count_is_estimate(self) -> bool:
        return self.counter.kind == "estimate"

    def render(self, messages: list[Message]) -> str:
        """The prompt text: by the local tokenizer's template when there is one; otherwise the server
        renders it, and this is a readable role-by-role transcript."""
        if isinstance(self.counter, LocalCounter):
            return self.counter.render(messages)
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def prompt_ids(self, messages: list[Message]) -> list[int] | None:
        return self._counting(self.counter.ids, messages)

    def count_tokens(self, messages: list[Message]) -> int:
        return self._counting(self.counter.count, messages)

    def _counting(self, method: Any, messages: list[Message]) -> Any:
        try:
            return method(messages)
        except httpx.HTTPStatusError as exc:
            raise http.status_error(exc.response, self.endpoint, self.served_name, self.key_env, self.served) from None
        except httpx.HTTPError as exc:
            raise http.transport_error(exc, self.endpoint, self.read_timeout, False) from None

    # -- generation ------------------------------------------------------------------------------------
    def request_body(self, messages: list[Message], params: GenerationParams) -> tuple[dict[str, Any], list[str]]:
        """The chat-completion request, and notices for settings this server does not take."""
        body: dict[str, Any] = {
            "model": self.served_name, "messages": messages, "stream": True,
            "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_new_tokens,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        notices = []
        if params.repetition_penalty != 1.0:
            key = {"vllm": "repetition_penalty", "llama.cpp": "repeat_penalty"}.get(self.server_kind)
            if key:
                body[key] = params.repetition_penalty
            elif "repetition_penalty" not in self._reported:
                self._reported.add("repetition_penalty")
                notices.append(f"repetition_penalty={params.repetition_penalty:g} is not part of the OpenAI API "
                               "and this server is not known to take it: ignored")
        return body, notices

    def stream(self, messages: list[Message], params: GenerationParams | None = None,
               cancel: threading.Event | None = None, prompt_ids: list[int] | None = None) -> Stream:
        params = params or GenerationParams()
        stream = Stream(cancel or threading.Event())
        body, notices = self.request_body(messages, params)
        stream.notices.extend(notices)
        threading.Thread(target=self._run, args=(body, params, stream), daemon=True, name="tuichat-server").start()
        return stream

    def generate(self, messages: list[Message], params: GenerationParams | None = None):
        stream = self.stream(messages, params).wait()
        return stream.text, stream.stats

    def _run(self, body: dict[str, Any], params: GenerationParams, stream: Stream) -> None:
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            self._answer(body, params, stream, start)
        except httpx.HTTPError as exc:
            if stream.cancelled:
                stream.stats.finish_reason = "cancelled"
            else:
                error = http.transport_error(exc, self.endpoint, self.read_timeout, bool(stream.text))
        except BaseException as exc:  # surfaced to the consumer of the stream, never lost in the thread
            error = exc
        stream.stats.total_s = time.perf_counter() - start
        stream.close(error)

    def _answer(self, body: dict[str, Any], params: GenerationParams, stream: Stream, start: float) -> None:
        url = self.endpoint.base_url + "/chat/completions"
        for attempt in range(http.MAX_TRIES):
            with self.client.stream("POST", url, json=body) as response:
                if response.status_code in http.RETRY_STATUSES and attempt + 1 < http.MAX_TRIES:
                    wait = http.retry_after(response, attempt)
                    if wait <= http.MAX_RETRY_WAIT_S:
                        if stream.wait_cancelled(wait):  # a cancel ends the wait at once
                            stream.stats.finish_reason = "cancelled"
                            return
                        continue
                if response.status_code != 200:
                    raise http.status_error(response, self.endpoint, self.served_name, self.key_env, self.served,
                                            tries=attempt + 1)
                self._read(response, params, stream, start)
                return

    def _read(self, response: httpx.Response, params: GenerationParams, stream: Stream, start: float) -> None:
        stats = stream.stats
        watcher = threading.Thread(target=_close_on_cancel, args=(stream, response), daemon=True)
        watcher.start()
        if "text/event-stream" not in response.headers.get("content-type", ""):
            events = [_as_chunk(response.read())]  # a server that ignored "stream": one whole body
        else:
            events = http.sse_events(response.iter_lines())
        for event in events:
            if stream.cancelled:
                stats.finish_reason = "cancelled"
                return
            usage = event.get("usage") or {}
            stats.prompt_tokens = int(usage.get("prompt_tokens") or stats.prompt_tokens)
            for choice in event.get("choices") or []:
                delta = (choice.get("delta") or choice.get("message") or {}).get("content") or ""
                if delta:
                    if stats.new_tokens == 0:
                        stats.ttft_s = time.perf_counter() - start
                    stats.new_tokens += 1  # one chunk per token (vLLM, llama.cpp)
                    stream.put(delta)
                if choice.get("finish_reason"):
                    stats.finish_reason = FINISH.get(choice["finish_reason"], choice["finish_reason"])
            if usage.get("completion_tokens") and "text/event-stream" not in response.headers.get("content-type", ""):
                stats.new_tokens = int(usage["completion_tokens"])
            if stats.new_tokens >= params.max_new_tokens and stats.finish_reason not in ("eos", "length"):
                stats.finish_reason = "length"  # the server sent more than asked for: stop reading
                return
        if stream.cancelled:
            stats.finish_reason = "cancelled"
        elif not stats.finish_reason:
            raise http.ServerError(f"the server at {self.device} ended the answer without finishing it; the partial answer is kept")


def _close_on_cancel(stream: Stream, response: httpx.Response) -> None:
    """Shut the connection down when the user cancels: a read blocked on a stalled server returns at
    once (closing the response from this thread would not wake it), and the server sees the
    disconnect and stops generating."""
    while not stream.finished.is_set():
        if stream.wait_cancelled(0.05):
            network = response.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the answer ended meanwhile
            return


def _as_chunk(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise http.ServerError("the server answered with a body that is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise http.ServerError("the server answered without choices; is this an OpenAI-compatible chat endpoint?")
    return data
