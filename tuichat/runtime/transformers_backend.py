"""The model behind the chat: turns a list of messages into streamed text deltas, cancellable.

Our own decode loop (instead of `model.generate` + a streamer) because it lets us
- stop between any two tokens (cancel is checked every step),
- keep the KV cache of the previous turn and reuse its longest common token prefix, so the time to
  first token stays flat as a conversation grows (only the new turn is prefilled),
- measure time-to-first-token and tokens/s exactly.
Greedy output equals `model.generate(do_sample=False)` for the same dtype (tested).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any

import torch
from transformers import DynamicCache, StaticCache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from tuichat.runtime import models, packed_weights, templates
from tuichat.errors import TuichatError
from tuichat.runtime.base import AnswerStats, GenerationParams, PrefixWarming, Stream
from tuichat.runtime.detokenizer import Detokenizer
from tuichat.runtime.lean_decode import LeanDecoder


class Engine(PrefixWarming):
    """A loaded model + tokenizer, generating one answer at a time."""

    def __init__(self, loaded: models.LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.base_name = loaded.name
        self._active_adapter: str | None = loaded.adapter
        self.backend = "transformers"
        self.device = loaded.device
        self.dtype = loaded.dtype
        self._lock = threading.Lock()
        self._cache: DynamicCache | None = None
        self._cache_ids: list[int] = []  # the tokens whose keys/values `_cache` holds
        self.reuse_cache = True
        # On CUDA: a KV cache of fixed size and address, so the one-token decode step can be compiled
        # into CUDA graphs (Python and kernel-launch overhead dominate a small model's decode there).
        # Both are plain attributes: benchmarks compare eager and compiled; tests run the static
        # cache on the CPU (where compiling costs a minute and gains little, so it stays off).
        self.static_cache = str(self.device).startswith("cuda")
        self.compile_decode = self.static_cache
        self._compiled_forward: Any = None
        if str(self.device) == "cpu":
            # transformers copies grouped key/value heads up to the query heads' count (the whole
            # cache, every layer, every forward) unless told SDPA takes them grouped, which on the
            # CPU it does with a mask too: a 34-token prompt on 1,500 cached tokens, 2.05 -> 1.0 ms
            # of attention a layer. (On CUDA a mask with grouped heads falls back to a slow kernel.)
            os.environ.setdefault("TRANSFORMERS_SDPA_FORCE_GQA", "1")
        # Without a static cache, one-token steps run in fewer operations where the architecture allows.
        self._lean_step = LeanDecoder.build(self.model)
        self.eos_ids = self._eos_ids()
        # transformers 5.24 renamed `past_key_values` to `cache`; older models/releases take the old name.
        import inspect

        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        forward = inspect.signature(base.forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward else "past_key_values"

    @classmethod
    def load(cls, spec=None, adapter=None, **kwargs: Any) -> "Engine":
        return cls(packed_weights.load(spec, adapter, **kwargs))

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(i) for i in source)
        return ids

    @property
    def context_window(self) -> int | None:
        """The model's trained context length in tokens (None when its config does not say)."""
        return getattr(self.model.config, "max_position_embeddings", None)

    @property
    def model_name(self) -> str:
        return self.base_name + (f" + {self._active_adapter}" if self._active_adapter else "")

    # -- adapters ------------------------------------------------------------------------------
    def adapters(self) -> list[str]:
        return list(getattr(self.model, "peft_config", {}))

    @property
    def active_adapter(self) -> str | None:
        return self._active_adapter

    def load_adapter(self, path: str, name: str | None = None, force: bool = False) -> str:
        with self._lock:  # never while an answer is being generated
            self.model, name = models.attach_adapter(self.model, path, self.base_name, force, name)
            self._use_adapter(name)
        self.rewarm()
        return name

    def set_adapter(self, name: str | None) -> None:
        if name is not None and name not in self.adapters():
            raise TuichatError(f"no adapter named '{name}' is loaded (loaded: {', '.join(self.adapters()) or 'none'})")
        with self._lock:
            self._use_adapter(name)
        self.rewarm()

    def _use_adapter(self, name: str | None) -> None:
        if name is None:
            if hasattr(self.model, "peft_config"):
                self.model.base_model.disable_adapter_layers()
        else:
            self.model.base_model.enable_adapter_layers()
            self.model.set_adapter(name)
        self._active_adapter = name
        self._cache, self._cache_ids = None, []  # keys/values computed with other weights
        self._void_pending_warms()
        self._compiled_forward = None  # the graph was traced for the previous module layout

    def reset(self) -> None:
        """Forget the kept KV cache (the next prompt is prefilled from scratch)."""
        self._void_pending_warms()
        with self._lock:
            self._forget_cache()

    def _forget_cache(self) -> None:
        self._cache, self._cache_ids = None, []

    # -- prompts -------------------------------------------------------------------------------
    def render(self, messages: list[dict[str, str]]) -> str:
        return templates.render(self.tokenizer, messages, add_generation_prompt=True)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.render(messages)
        # A chat template already writes its special tokens; the Alpaca fallback wants the BOS.
        special = not templates.has_chat_template(self.tokenizer)
        return self.tokenizer(text, add_special_tokens=special)["input_ids"]

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.prompt_ids(messages))

    # -- generation ----------------------------------------------------------------------------
    def stream(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams | None = None,
        cancel: threading.Event | None = None,
        prompt_ids: list[int] | None = None,
    ) -> Stream:
        params = params or GenerationParams()
        ids = prompt_ids if prompt_ids is not None else self.prompt_ids(messages)
        stream = Stream(cancel or threading.Event())
        self._void_pending_warms()
        thread = threading.Thread(target=self._run, args=(ids, params, stream), daemon=True, name="tuichat-generate")
        thread.start()
        return stream

    def generate(self, messages: list[dict[str, str]], params: GenerationParams | None = None) -> tuple[str, AnswerStats]:
        stream = self.stream(messages, params).wait()
        return stream.text, stream.stats

    def _run(self, ids: list[int], params: GenerationParams, stream: Stream) -> None:
        try:
            with self._lock, torch.inference_mode():
                self._decode(ids, params, stream)
        except BaseException as exc:  # surfaced to the consumer of the stream, never lost in the thread
            self._cache, self._cache_ids = None, []
            stream.close(exc)
        else:
            stream.close()

    def _processors(self, params: GenerationParams) -> LogitsProcessorList:
        procs = LogitsProcessorList()
        if params.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(params.repetition_penalty))
        if params.temperature > 0:
            procs.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                procs.append(TopPLogitsWarper(params.top_p))
        return procs

    def _keep_cached_prefix(self, ids: list[int], needed: int, limit: int) -> int:
        """Cut the kept cache to its longest common prefix with `ids` (at most `limit` tokens), or
        start a fresh one of room `needed`; returns how many tokens of `ids` it still holds."""
        common = 0
        if self.reuse_cache and self._cache is not None:
            limit = min(len(self._cache_ids), limit)
            while common < limit and self._cache_ids[common] == ids[common]:
                common += 1
        if common > 0:
            self._cache.crop(common - self._cache.get_seq_length())  # negative: tokens to drop
        else:
            self._cache = self._fresh_cache(needed)
        self._cache_ids = list(ids[:common])
        return common

    def _fill_cache(self, ids: list[int]) -> None:
        """Prefill `ids` into the kept cache, reusing what it holds of them (a warm)."""
        if not self.reuse_cache:
            return  # an answer would prefill everything again anyway
        with torch.inference_mode():
            common = self._keep_cached_prefix(ids, len(ids) + 1, len(ids))
            if common < len(ids):
                self._cache_ids = []  # unknown contents if the forward fails
                self.model(input_ids=torch.tensor([ids[common:]], device=self.device), use_cache=True,
                           logits_to_keep=1, **{self._cache_kwarg: self._cache})
                self._cache_ids = list(ids)

    def _fresh_cache(self, needed: int) -> Any:
        if not self.static_cache:
            return DynamicCache(config=self.model.config)
        size = max(needed, self.context_window or 0, 256)
        if isinstance(self._cache, StaticCache) and self._cache.get_max_length() >= needed:
            self._cache.reset()  # same tensors, same addresses: compiled graphs stay valid
            return self._cache
        return StaticCache(config=self.model.config, max_cache_len=size)

    def _decode_step(self) -> Any:
        """The model's forward for one new token: compiled (CUDA graphs) when asked, else eager."""
        if not (self.compile_decode and self.static_cache):
            return self.model
        if self._compiled_forward is None:
            self._compiled_forward = torch.compile(self.model.forward, mode="reduce-overhead", fullgraph=False)
        return self._compiled_forward

    def _forward(self, tokens: torch.Tensor, cache: Any) -> torch.Tensor:
        """The logits [1, vocab] after `tokens` (fed on top of `cache`, which takes their keys/values)."""
        if tokens.shape[1] == 1 and self._lean_step is not None and not self.static_cache:
            return self._lean_step(tokens, cache)[:, -1, :].float()
        forward = self._decode_step() if tokens.shape[1] == 1 else self.model
        out = forward(input_ids=tokens, use_cache=True, logits_to_keep=1, **{self._cache_kwarg: cache})
        return out.logits[:, -1, :].float()

    def _decode(self, ids: list[int], params: GenerationParams, stream: Stream) -> None:
        stats = stream.stats
        start = time.perf_counter()
        stats.prompt_tokens = len(ids)
        # One prompt token is always fed, for fresh logits to choose the first token from.
        common = self._keep_cached_prefix(ids, len(ids) + params.max_new_tokens, len(ids) - 1)
        stats.reused_tokens = common
        cache = self._cache
        fed = list(ids[:common])
        processors = self._processors(params)
        generator = None
        if params.temperature > 0:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(params.seed if params.seed is not None else int(time.time_ns() % 2**63))
        all_ids = torch.tensor([ids], device=self.device)
        next_input = all_ids[:, common:]
        detok = Detokenizer(self.tokenizer)
        stats.finish_reason = "length"
        for step in range(params.max_new_tokens):
            if stream.cancelled:
                stats.finish_reason = "cancelled"
                break
            logits = self._forward(next_input, cache)
            fed.extend(next_input[0].tolist())
            scores = processors(all_ids, logits)
            if params.temperature > 0:
                probs = torch.softmax(scores, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator)
            else:
                token = scores.argmax(dim=-1, keepdim=True)
            token_id = int(token)
            if step == 0:
                stats.ttft_s = time.perf_counter() - start
            if token_id in self.eos_ids:
                stats.finish_reason = "eos"
                break
            stats.new_tokens += 1
            all_ids = torch.cat([all_ids, token], dim=1)
            next_input = token
            delta = detok.push(token_id)
            stream.put(delta)
        stream.put(detok.flush())
        stats.total_s = time.perf_counter() - start
        self._cache_ids = fed
