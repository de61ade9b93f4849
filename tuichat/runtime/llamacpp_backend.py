"""The llama.cpp backend: GGUF models run by llama.cpp (through llama-cpp-python), 4-bit kernels
made for the CPU. Nothing on this path imports torch or transformers, so a chat is ready in about
a second.

- Prompts are rendered with the GGUF's own chat template by the same Jinja rules transformers uses
  (`templates.render_jinja`), so both backends feed the model the same token ids.
- The KV cache of the longest common token prefix with the previous call is kept, so a
  conversation that grows at its end only prefills the new turn; `warm` (PrefixWarming) prefills
  the part every next prompt shares before the user sends, so an answer prefills only the message.
- The keys/values of a prefix warmed from nothing (a new chat's persona and greeting) are also kept
  on disk (`prefix_store`), so the next process reads them back instead of prefilling them.
- Adapters: PEFT LoRAs converted once to GGUF LoRAs (`lora_gguf`) and switched by llama.cpp's
  adapter API at run time; the base weights are never touched.
"""
from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from pathlib import Path
from typing import Any

import llama_cpp  # after tuichat/__init__.py set OMP_WAIT_POLICY (see there)
from llama_cpp._internals import LlamaSampler

from tuichat.errors import ModelLoadError, TuichatError
from tuichat.runtime import prefix_store, templates
from tuichat.runtime.base import AnswerStats, GenerationParams, Message, PrefixWarming, Stream
from tuichat.runtime.llamacpp_loading import open_gguf
from tuichat.runtime.prefix_store import PrefixStore

DEFAULT_CONTEXT = 4096


class LlamaCppRuntime(PrefixWarming):
    """A loaded GGUF model generating one answer at a time (implements `ModelRuntime`)."""

    backend = "llamacpp"
    device = "cpu"

    def __init__(self, llm: llama_cpp.Llama, path: Path, name: str) -> None:
        self.llm = llm
        self.path = path
        self.base_name = name
        self.reuse_cache = True
        self.keep_prefixes_on_disk = True
        self._stores: dict[Path, PrefixStore] = {}  # by folder: one per model, adapter and home
        self._adapter_files: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._adapters: dict[str, Any] = {}  # name -> llama_adapter_lora pointer (freed with the model)
        self._active: str | None = None
        model = llm._model
        self._vocab = model.vocab
        self._template = llm.metadata.get("tokenizer.chat_template") or ""
        self._special = {
            f"{kind}_token": model.token_get_text(token_id)
            for kind, token_id in (("bos", llm.token_bos()), ("eos", llm.token_eos()),
                                   ("pad", llama_cpp.llama_vocab_pad(self._vocab)))
            if token_id >= 0
        }
        self._pieces: dict[int, bytes] = {}
        self.context_window = min(llm.n_ctx(), model.n_ctx_train() or llm.n_ctx())

    @classmethod
    def load(cls, path: str | os.PathLike, *, n_ctx: int | None = None, name: str | None = None,
             extra_buffers: bool | None = None, gpu: bool = True) -> "LlamaCppRuntime":
        """Load a GGUF file; any failure is one ModelLoadError line naming the cause.

        `extra_buffers` (AMX / repacked weights) defaults to what the probe found safe on this CPU.
        On a build with GPU support every layer goes to the GPU unless `gpu` is False.
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"model file does not exist: {path}")
        if extra_buffers is None:
            from tuichat.runtime.llamacpp_probe import safe_settings

            extra_buffers = safe_settings()["extra_buffers"]
        on_gpu = gpu and llama_cpp.llama_supports_gpu_offload()
        llm = open_gguf(path, n_ctx or DEFAULT_CONTEXT, extra_buffers, on_gpu)
        runtime = cls(llm, path, name or display_name(path))
        runtime.device = "cuda" if on_gpu else "cpu"
        return runtime

    @property
    def model_name(self) -> str:
        return self.base_name + (f" + {self._active}" if self._active else "")

    # -- prompts -------------------------------------------------------------------------------------
    def render(self, messages: list[Message]) -> str:
        if self._template:
            return templates.render_jinja(self._template, messages, self._special, add_generation_prompt=True)
        return templates.alpaca_from_messages(messages, add_generation_prompt=True)

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        # A chat template writes its own special tokens; the Alpaca fallback wants the model's BOS.
        add_bos = not self._template and llama_cpp.llama_vocab_get_add_bos(self._vocab)
        return self.llm.tokenize(self.render(messages).encode("utf-8"), add_bos=bool(add_bos), special=True)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self.prompt_ids(messages))

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = ctypes.create_string_buffer(256)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            piece = self._pieces[token] = buf.raw[: max(n, 0)]
        return piece

    # -- generation ----------------------------------------------------------------------------------
    def stream(self, messages: list[Message], params: GenerationParams | None = None,
               cancel: threading.Event | None = None, prompt_ids: list[int] | None = None) -> Stream:
        params = params or GenerationParams()
        ids = list(prompt_ids) if prompt_ids is not None else self.prompt_ids(messages)
        stream = Stream(cancel or threading.Event())
        self._void_pending_warms()
        threading.Thread(target=self._run, args=(ids, params, stream), daemon=True, name="tuichat-generate").start()
        return stream

    def generate(self, messages: list[Message], params: GenerationParams | None = None) -> tuple[str, AnswerStats]:
        stream = self.stream(messages, params).wait()
        return stream.text, stream.stats

    def reset(self) -> None:
        self._void_pending_warms()
        with self._lock:
            self.llm.reset()

    def _forget_cache(self) -> None:
        self.llm.reset()

    def _run(self, ids: list[int], params: GenerationParams, stream: Stream) -> None:
        try:
            with self._lock:
                self._decode(ids, params, stream)
        except BaseException as exc:  # surfaced to the stream's consumer, never lost in the thread
            self.llm.reset()
            stream.close(exc)
        else:
            stream.close()

    def _cached_prefix(self, ids: list[int]) -> int:
        """How many leading tokens of `ids` the KV cache holds already."""
        llm = self.llm
        common = 0
        for cached, new in zip(llm.input_ids[: llm.n_tokens].tolist(), ids):
            if cached != new:
                break
            common += 1
        return common

    def _feed(self, ids: list[int], keep: int) -> None:
        """Evaluate `ids` after its first `keep` tokens, whose keys/values the cache holds."""
        llm = self.llm
        if keep and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0  # this model's cache cannot be cut (e.g. a recurrent one): start again
            llm.reset()
        llm.n_tokens = keep
        llm.eval(ids[keep:])

    def _fill_cache(self, ids: list[int]) -> None:
        """Prefill `ids` into the cache, keeping what it holds of them (a warm)."""
        if not self.reuse_cache or len(ids) >= self.llm.n_ctx():
            return  # an answer would prefill everything again anyway
        keep = self._cached_prefix(ids)
        if keep < len(ids):
            restored = self._restore(ids, keep, len(ids))
            if restored < len(ids):
                self._feed(ids, restored)
                llama_cpp.llama_synchronize(self.llm._ctx.ctx)  # done while the warm holds the lock
                if keep == 0:  # a new chat's start: worth keeping for the next process
                    self._remember(ids)

    # -- prefixes kept on disk (prefix_store.py) ---------------------------------------------------
    def _store(self) -> PrefixStore | None:
        if not (self.keep_prefixes_on_disk and self.reuse_cache):
            return None
        weights = str(self._adapter_files[self._active]) if self._active else "base"
        try:
            store = PrefixStore.for_model(self.path, llama_cpp.__version__, self.device, weights)
        except OSError:  # the model file moved away while loaded: only the speed-up is lost
            return None
        return self._stores.setdefault(store.folder, store)  # its index of files is read once

    def _restore(self, ids: list[int], keep: int, limit: int) -> int:
        store = self._store()
        return prefix_store.restore(self.llm, store, ids, keep, limit) if store else keep

    def _remember(self, ids: list[int]) -> None:
        store = self._store()
        if store is not None:
            prefix_store.remember(self.llm, store, ids)

    def _sampler(self, params: GenerationParams, context: list[int]) -> Any:
        """llama.cpp's sampler chain, in transformers' order (penalty, temperature, top-p). The
        penalty window is the whole context, not llama.cpp's last 64 tokens: see GenerationParams."""
        sampler = LlamaSampler()
        if params.repetition_penalty != 1.0:
            sampler.add_penalties(self.llm.n_vocab(), self.llm.n_ctx(), params.repetition_penalty, 0.0, 0.0)
            for token in context:
                sampler.accept(token)
        if params.temperature == 0:
            sampler.add_greedy()
        else:
            sampler.add_temp(params.temperature)
            sampler.add_top_p(params.top_p, 1)
            sampler.add_dist(params.seed if params.seed is not None else time.time_ns() % 2**31)
        return sampler

    def _decode(self, ids: list[int], params: GenerationParams, stream: Stream) -> None:
        llm, stats = self.llm, stream.stats
        start = time.perf_counter()
        room = llm.n_ctx() - len(ids)
        if room < 1:
            raise TuichatError(f"the prompt ({len(ids)} tokens) does not fit the model's context of {llm.n_ctx()} tokens")
        # One prompt token is always evaluated, for fresh logits to sample from.
        keep = self._restore(ids, min(self._cached_prefix(ids), len(ids) - 1), len(ids) - 1) if self.reuse_cache else 0
        stats.prompt_tokens, stats.reused_tokens = len(ids), keep
        sampler = self._sampler(params, ids)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stats.finish_reason = "length"
        try:
            self._feed(ids, keep)
            while True:
                token = sampler.sample(llm._ctx, -1)  # also enters the token into the penalty window
                if not stats.ttft_s:
                    stats.ttft_s = time.perf_counter() - start
                if stream.cancelled:
                    stats.finish_reason = "cancelled"
                    break
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    stats.finish_reason = "eos"
                    break
                stats.new_tokens += 1
                stream.put(decoder.decode(self._piece(token)))
                if stats.new_tokens >= min(params.max_new_tokens, room):
                    break
                llm.eval([token])
        finally:
            sampler.close()
        stream.put(decoder.decode(b"", final=True).rstrip("\ufffd"))  # a character cut off by the limit
        stats.total_s = time.perf_counter() - start

    # -- adapters: PEFT LoRAs converted to GGUF LoRAs, switched with llama.cpp's adapter API -----------
    def adapters(self) -> list[str]:
        return list(self._adapters)

    @property
    def active_adapter(self) -> str | None:
        return self._active

    def load_adapter(self, path: str, name: str | None = None, force: bool = False) -> str:
        from tuichat.runtime import lora_gguf

        folder = Path(path).expanduser()
        name = name or folder.name
        converted = lora_gguf.converted_lora(folder, self.path, self.base_name, force)
        with self._lock:
            if name not in self._adapters:
                handle = llama_cpp.llama_adapter_lora_init(self.llm._model.model, str(converted).encode())
                if not handle:
                    raise ModelLoadError(f"llama.cpp could not load the adapter {folder} (converted: {converted})")
                self._adapters[name] = handle
                self._adapter_files[name] = converted
            self._use_adapter(name)
        self.rewarm()
        return name

    def set_adapter(self, name: str | None) -> None:
        if name is not None and name not in self._adapters:
            raise TuichatError(f"no adapter named '{name}' is loaded (loaded: {', '.join(self._adapters) or 'none'})")
        with self._lock:
            self._use_adapter(name)
        self.rewarm()

    def _use_adapter(self, name: str | None) -> None:
        ctx = self.llm._ctx.ctx
        if name is None:
            result = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        else:
            handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._adapters[name])
            result = llama_cpp.llama_set_adapters_lora(ctx, handles, 1, (ctypes.c_float * 1)(1.0))
        if result != 0:
            raise ModelLoadError(f"llama.cpp refused to switch to adapter {name or 'none'} (code {result})")
        self._active = name
        self.llm.reset()  # keys/values were computed with other weights
        self._void_pending_warms()


def display_name(path: Path) -> str:
    from tuichat.runtime.models import EMBEDDED_FILE, EMBEDDED_NAME

    return EMBEDDED_NAME if path.name == EMBEDDED_FILE else path.stem
