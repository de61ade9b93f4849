"""Examples → token ids and labels, formatted exactly as tuichat prompts the model at chat time.

The prompt comes from `tuichat.runtime.templates.render` (the chat template when the tokenizer has one, the
classic Alpaca prompt otherwise). The prompt is tokenized on its own, as the chat engine does, so
the ids the model learns to continue are the ids it will see; the response follows with EOS, and
only response tokens (assistant turns) carry labels unless `train_on_inputs` is set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuichat.runtime import templates

from .data import DataError, Example

IGNORE = -100


@dataclass
class Encoded:
    row: int
    input_ids: list[int]
    labels: list[int]
    source: str = ""  # the data file, when several are mixed

    @property
    def trainable(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def choose_pad_token(tokenizer: Any) -> None:
    """Give the tokenizer a pad token distinct from EOS, taken from its existing special tokens.

    SmolLM2 ships pad == eos (<|im_end|>); any collator that masks pad positions by id would then
    also mask the real EOS and the model would never learn to stop.
    """
    eos = tokenizer.eos_token_id
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != eos:
        return
    for candidate in [tokenizer.unk_token, *getattr(tokenizer, "all_special_tokens", [])]:
        if candidate and tokenizer.convert_tokens_to_ids(candidate) not in (None, eos):
            tokenizer.pad_token = candidate
            return
    # No spare special token: padding stays on EOS, which is safe here because labels are masked
    # by position (collate.py), never by comparing ids with pad.


def _segments(tokenizer: Any, example: Example) -> list[tuple[str, bool]]:
    """The rendered example as (text, is_response) pieces whose concatenation is the full render."""
    if not templates.has_chat_template(tokenizer):
        if example.alpaca is not None:
            a = example.alpaca
            return [(templates.alpaca_prompt(a["instruction"], a["input"]), False), (a["output"], True)]
        # Chat rows on an Alpaca-template model: earlier turns fold into the Input, so only the
        # last assistant turn is a response.
        last = max(i for i, m in enumerate(example.messages) if m["role"] == "assistant")
        prompt = templates.render(tokenizer, example.messages[:last], add_generation_prompt=True)
        return [(prompt, False), (example.messages[last]["content"], True)]
    messages = example.messages
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    messages = messages[: last + 1]
    full = templates.render(tokenizer, messages, add_generation_prompt=False)
    pieces: list[tuple[str, bool]] = []
    done = 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = templates.render(tokenizer, messages[:i], add_generation_prompt=True)
        through = templates.render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not (through.startswith(before) and full.startswith(through) and len(before) >= done):
            # The template rewrites earlier turns (e.g. strips reasoning): train the last turn only.
            prompt = templates.render(tokenizer, messages[:last], add_generation_prompt=True)
            if not full.startswith(prompt):
                raise DataError(f"row {example.row}: the chat template does not render a prompt that the answer extends")
            return [(prompt, False), (full[len(prompt):], True)]
        pieces += [(before[done:], False), (through[len(before):], True)]
        done = len(through)
    if done < len(full):
        pieces.append((full[done:], False))
    return [(text, is_response) for text, is_response in pieces if text]


def encode(tokenizer: Any, example: Example, train_on_inputs: bool = False) -> Encoded:
    """Token ids and labels for one example; response tokens (and EOS) are labelled, the rest -100."""
    chat = templates.has_chat_template(tokenizer)
    ids: list[int] = []
    labels: list[int] = []
    eos = tokenizer.eos_token_id
    segments = _segments(tokenizer, example)
    for index, (text, is_response) in enumerate(segments):
        # A template-less (base) model gets its BOS from the tokenizer, as at chat time.
        piece = tokenizer(text, add_special_tokens=(not chat and index == 0))["input_ids"]
        if is_response and eos is not None and eos not in piece and not any(r for _, r in segments[index + 1:]):
            piece = piece + [eos]  # the template does not close the answer with EOS: append it
        ids += piece
        labels += piece if (is_response or train_on_inputs) else [IGNORE] * len(piece)
    return Encoded(example.row, ids, labels, example.source)


@dataclass
class LengthReport:
    examples: int
    max_length: int
    over_limit: int
    response_tokens: int
    response_tokens_cut: int
    longest: int
    median: int
    p90: int
    dropped: int = 0
    strategy: str = "truncate"

    def lines(self) -> list[str]:
        pct = 100.0 * self.response_tokens_cut / max(1, self.response_tokens)
        out = [
            f"Length report ({self.examples} examples, --max_length {self.max_length}): "
            f"median {self.median} tokens, 90th percentile {self.p90}, longest {self.longest}.",
            f"  {self.over_limit} examples ({100.0 * self.over_limit / max(1, self.examples):.1f}%) exceed "
            f"--max_length; {self.response_tokens_cut} of {self.response_tokens} response tokens ({pct:.1f}%) would be cut.",
        ]
        if self.over_limit:
            action = (f"dropped {self.dropped} examples" if self.strategy == "drop"
                      else "truncated them (the cut answers lose their EOS)")
            out.append(f"  --length_strategy {self.strategy}: {action}.")
        return out


def _percentile(sorted_values: list[int], q: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] if sorted_values else 0


def fit_lengths(encoded: list[Encoded], max_length: int, strategy: str, source: str = "dataset") -> tuple[list[Encoded], LengthReport]:
    """Apply truncate/drop; refuse the data if an example would keep no trainable token."""
    lengths = sorted(len(e.input_ids) for e in encoded)
    over = [e for e in encoded if len(e.input_ids) > max_length]
    cut = sum(sum(1 for x in e.labels[max_length:] if x != IGNORE) for e in encoded)
    report = LengthReport(
        examples=len(encoded), max_length=max_length, over_limit=len(over),
        response_tokens=sum(e.trainable for e in encoded), response_tokens_cut=cut,
        longest=lengths[-1] if lengths else 0, median=_percentile(lengths, 0.5), p90=_percentile(lengths, 0.9),
        strategy=strategy,
    )
    if strategy == "drop":
        kept = [e for e in encoded if len(e.input_ids) <= max_length]
        report.dropped = len(encoded) - len(kept)
    else:
        kept = [Encoded(e.row, e.input_ids[:max_length], e.labels[:max_length], e.source) for e in encoded]
    # Position 0 is never a target (labels shift by one), so a lone first-token label does not count.
    empty = [e for e in kept if not any(x != IGNORE for x in e.labels[1:])]
    if empty:
        where = empty[0].source or source  # several files: name the file of the first bad row
        shown = [e.row for e in empty if (e.source or source) == where][:5]
        rows = ", ".join(map(str, shown)) + (f" and {len(empty) - len(shown)} more" if len(empty) > len(shown) else "")
        raise DataError(
            f"{where}: row {rows} would keep no response token within --max_length {max_length} "
            "(the prompt fills it); raise --max_length or use --length_strategy drop"
        )
    if not kept:
        raise DataError(f"{source}: every example is longer than --max_length {max_length}; raise it")
    return kept, report
