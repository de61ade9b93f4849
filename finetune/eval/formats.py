"""Readers for the public benchmark file formats, turning each row into a `Doc`.

A `Doc` is lm-evaluation-harness's view of a multiple-choice item after its `doc_to_text` /
`doc_to_choice` / `doc_to_target`: the query text, the choice strings and the gold index. Every
reader checks its rows and raises `EvalDataError` naming the file and the 1-based row, so a broken
file stops only its own task.

Formats (see ../shared/data/README.md): AI2 ARC jsonl (or the Hugging Face export with
`choices: {text, label}`), BoolQ jsonl (`label` "true"/"false", bool or 0/1, or `answer`),
HellaSwag jsonl (`ctx` or `ctx_a`/`ctx_b`), WinoGrande jsonl (`sentence` with `_`), MMLU headerless
CSV, CMMLU CSV (`,Question,A,B,C,D,Answer`), C-Eval CSV (`id,question,A,B,C,D,answer`).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tuichat.errors import TuichatError

LETTERS = ("A", "B", "C", "D")


class EvalDataError(TuichatError):
    """A benchmark file is missing or malformed; the message names the file and row."""


@dataclass(frozen=True)
class Doc:
    """One multiple-choice item. For WinoGrande (`partial` set) the choices are the alternative
    contexts and `partial` is the shared continuation that gets scored."""

    query: str
    choices: tuple[str, ...]
    gold: int
    row: int
    partial: str | None = None


def _fail(path: Path, row: int, why: str) -> EvalDataError:
    return EvalDataError(f"{path}: row {row}: {why}")


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise EvalDataError(f"{path}: file not found (see --data-dir)")
    for row, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, row, f"not valid JSON ({exc.msg}); expected one JSON object per line") from None
        if not isinstance(obj, dict):
            raise _fail(path, row, "expected a JSON object")
        yield row, obj


def _read_text(path: Path) -> str:
    """The file as text; bytes that are not UTF-8 are a one-line EvalDataError naming the line."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EvalDataError(f"{path}: line {line} is not valid UTF-8; save the file as UTF-8") from None


def _text(path: Path, row: int, obj: dict, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, row, f"missing or empty field {key!r}")
    return value


def _choices(path: Path, row: int, texts: Any) -> tuple[str, ...]:
    if not isinstance(texts, (list, tuple)) or len(texts) < 2:
        raise _fail(path, row, "needs at least two choices")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise _fail(path, row, f"choice {i + 1} is empty")
    return tuple(texts)


def read_arc(path: Path) -> list[Doc]:
    """AI2 jsonl (`question.stem`, `question.choices[{label,text}]`) or the HF export
    (`question` str, `choices.text/label`). Keys may be letters or digits (about 1% upstream are
    1–4); the gold is the key's position among the labels, as lm-eval's `choices.label.index`."""
    docs = []
    for row, obj in _jsonl(path):
        q = obj.get("question")
        if isinstance(q, dict):
            stem = _text(path, row, q, "stem")
            raw = q.get("choices") or []
            labels = [c.get("label") for c in raw if isinstance(c, dict)]
            texts = [c.get("text") for c in raw if isinstance(c, dict)]
        elif isinstance(q, str) and isinstance(obj.get("choices"), dict):
            stem = _text(path, row, obj, "question")
            labels, texts = obj["choices"].get("label") or [], obj["choices"].get("text") or []
        else:
            raise _fail(path, row, "not ARC format: expected question.stem + question.choices or question + choices")
        choices = _choices(path, row, texts)
        key = str(obj.get("answerKey", "")).strip()
        labels = [str(label).strip() for label in labels]
        if key not in labels:
            raise _fail(path, row, f"answerKey {key!r} is not one of the choice labels {labels}")
        docs.append(Doc(f"Question: {stem}\nAnswer:", choices, labels.index(key), row))
    return docs


_BOOL = {"true": 1, "false": 0, "1": 1, "0": 0}


def read_boolq(path: Path) -> list[Doc]:
    docs = []
    for row, obj in _jsonl(path):
        passage, question = _text(path, row, obj, "passage"), _text(path, row, obj, "question")
        raw = obj.get("label", obj.get("answer"))
        label = _BOOL.get(str(raw).strip().lower())
        if label is None:
            raise _fail(path, row, f"label {raw!r} is not true/false")
        docs.append(Doc(f"{passage}\nQuestion: {question}?\nAnswer:", ("no", "yes"), label, row))
    return docs


def _hellaswag_clean(text: str) -> str:
    # lm-eval's hellaswag `preprocess`: WikiHow bracket artefacts out, double spaces collapsed.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _capitalize_last_fragment(ctx: str) -> str:
    # lm-eval builds ctx_a + " " + ctx_b.capitalize(); exports that only keep the joined `ctx`
    # lost the boundary, so the best we can do is capitalise a lower-case trailing fragment.
    head, sep, tail = ctx.rpartition(". ")
    if tail[:1].islower():
        return head + sep + tail[:1].upper() + tail[1:]
    return ctx


def read_hellaswag(path: Path) -> list[Doc]:
    docs = []
    for row, obj in _jsonl(path):
        label_text = obj.get("activity_label", "")
        if "ctx_a" in obj:
            ctx = f"{obj['ctx_a']} {str(obj.get('ctx_b', '')).capitalize()}"
        else:
            ctx = _capitalize_last_fragment(_text(path, row, obj, "ctx"))
        choices = _choices(path, row, obj.get("endings"))
        try:
            gold = int(obj.get("label"))
        except (TypeError, ValueError):
            raise _fail(path, row, f"label {obj.get('label')!r} is not an integer") from None
        if not 0 <= gold < len(choices):
            raise _fail(path, row, f"label {gold} out of range 0..{len(choices) - 1}")
        docs.append(Doc(_hellaswag_clean(f"{label_text}: {ctx}"),
                        tuple(_hellaswag_clean(e) for e in choices), gold, row))
    return docs


def read_winogrande(path: Path) -> list[Doc]:
    """lm-eval's partial scoring: contexts are the sentence up to `_` with each option filled in;
    the rest of the sentence is the continuation scored under both."""
    docs = []
    for row, obj in _jsonl(path):
        sentence = _text(path, row, obj, "sentence")
        if "_" not in sentence:
            raise _fail(path, row, "sentence has no '_' blank")
        options = _choices(path, row, [obj.get("option1"), obj.get("option2")])
        answer = str(obj.get("answer", "")).strip()
        if answer not in ("1", "2"):
            raise _fail(path, row, f"answer {answer!r} is not 1 or 2")
        idx = sentence.index("_")
        contexts = tuple(sentence[:idx] + option for option in options)
        docs.append(Doc("", contexts, int(answer) - 1, row, partial=sentence[idx + 1:].strip()))
    return docs


def _csv_rows(path: Path, header: bool) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise EvalDataError(f"{path}: file not found (see --data-dir)")
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    try:
        if header:
            next(reader, None)
        for row in reader:
            # reader.line_num is the physical line the record ended on: right for messages.
            if any(cell.strip() for cell in row):
                yield reader.line_num, row
    except csv.Error as exc:
        raise EvalDataError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from None


def _letter_doc(path: Path, row: int, question: str, options: list[str], answer: str, answer_cue: str) -> Doc:
    if not question.strip():
        raise _fail(path, row, "empty question")
    choices = _choices(path, row, options)
    answer = answer.strip()
    if answer not in LETTERS:
        raise _fail(path, row, f"answer {answer!r} is not one of A, B, C, D")
    text = question.strip() + "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, choices))
    return Doc(text + "\n" + answer_cue, LETTERS, LETTERS.index(answer), row)


def _read_letter_csv(path: Path, header: bool, columns: tuple[int, ...], layout: str, first: int, cue: str) -> list[Doc]:
    """A four-choice CSV: question in column `first`, choices A–D after it, then the answer letter."""
    docs = []
    for row, cells in _csv_rows(path, header=header):
        if len(cells) not in columns:
            expected = " or ".join(str(n) for n in columns)
            raise _fail(path, row, f"expected {expected} columns ({layout}), found {len(cells)}")
        docs.append(_letter_doc(path, row, cells[first], cells[first + 1 : first + 5], cells[first + 5], cue))
    return docs


def read_mmlu_csv(path: Path) -> list[Doc]:
    """Hendrycks CSV: question, A, B, C, D, answer letter; no header."""
    return _read_letter_csv(path, False, (6,), "question,A,B,C,D,answer", 0, "Answer:")


def read_cmmlu_csv(path: Path) -> list[Doc]:
    """CMMLU: header `,Question,A,B,C,D,Answer`."""
    return _read_letter_csv(path, True, (7,), ",Question,A,B,C,D,Answer", 1, "答案：")


def read_ceval_csv(path: Path) -> list[Doc]:
    """C-Eval: header `id,question,A,B,C,D,answer[,explanation]`."""
    return _read_letter_csv(path, True, (7, 8), "id,question,A,B,C,D,answer[,explanation]", 1, "答案：")
