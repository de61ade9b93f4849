"""Read instruction data into chat `messages`, with errors that name the file and the row.

Accepted: Alpaca rows (`instruction`, optional `input` and `system`, `output`), chat rows
(`messages`: a list of {role, content}; or ShareGPT's `conversations`: a list of {from, value} with
from = system/human/gpt), and preference rows (`prompt` messages, `chosen`, `rejected`: what
`tuichat history export --format dpo` writes), trained as supervised rows on prompt + chosen answer,
from .csv, .json (a list), .jsonl and .parquet. Everything is read as strict
UTF-8, so a bad byte is reported at its line instead of turning into mojibake in the training data.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuichat.errors import TuichatError

SUFFIXES = (".csv", ".json", ".jsonl", ".parquet")
ROLES = {"system", "user", "assistant"}
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
SAMPLE = Path(__file__).resolve().parent / "data" / "sample_instructions.jsonl"
MAX_REPORTED = 5


class DataError(TuichatError):
    pass


@dataclass
class Example:
    """One training example: `row` is 1-based in the file's data rows; `alpaca` keeps the original
    fields so a template-less model gets the classic Alpaca prompt with its Input section."""

    row: int
    messages: list[dict[str, str]]
    alpaca: dict[str, str] | None = field(default=None)
    source: str = ""  # the file it came from, named in errors when several files are mixed


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid UTF-8 (byte {raw[exc.start]:#04x}); save the file as UTF-8") from None


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(_decode(path), newline=""), strict=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: the file is empty")
        header = [h.strip() for h in header]
        start = reader.line_num + 1
        for number, values in enumerate(reader, start=1):
            if values and len(values) != len(header):
                raise DataError(
                    f"{path}: row {number} (line {start}) has {len(values)} fields, the header has {len(header)}; "
                    "check for a stray quote or an unquoted comma"
                )
            if values:
                rows.append((number, dict(zip(header, values))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(
            f"{path}: row {len(rows) + 1} (line {start}): {exc}; a quote inside a field must be doubled (\"\") "
            "and the field itself quoted"
        ) from None
    return rows


def _read_json(path: Path) -> list[tuple[int, dict[str, Any]]]:
    text = _decode(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of examples (or JSON Lines in a .jsonl file)")
    return list(enumerate(data, start=1))


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line_number, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((line_number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {line_number} is not valid JSON: {exc.msg} (column {exc.colno})") from None
    return rows


def _read_parquet(path: Path) -> list[tuple[int, dict[str, Any]]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid etc.
        raise DataError(f"{path}: cannot read Parquet: {str(exc).splitlines()[0]}") from None
    return [(i, record) for i, record in enumerate(frame.to_dict(orient="records"), start=1)]


def _text(value: Any) -> str:
    """Cell → str; missing cells (None, NaN from pandas/CSV) become ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def _messages_example(row: int, value: Any) -> tuple[Example | None, str | None]:
    if hasattr(value, "tolist"):  # a numpy array from Parquet
        value = value.tolist()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None, "`messages` is not a JSON list"
    if not isinstance(value, list) or not value:
        return None, "`messages` must be a non-empty list of {role, content}"
    messages = []
    for i, m in enumerate(value, start=1):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            return None, f"message {i} needs `role` and `content`"
        if m["role"] not in ROLES:
            return None, f"message {i} has role {m['role']!r} (use system, user or assistant)"
        messages.append({"role": m["role"], "content": _text(m["content"])})
    answers = [m for m in messages if m["role"] == "assistant"]
    if not answers:
        return None, "no assistant message to learn from"
    if any(not m["content"].strip() for m in answers):
        return None, "empty assistant message"
    if not any(m["role"] == "user" for m in messages):
        return None, "no user message"
    return Example(row, messages), None


def _alpaca_example(row: int, record: dict[str, Any]) -> tuple[Example | None, str | None]:
    instruction, extra, output, system = (_text(record.get(k)) for k in ("instruction", "input", "output", "system"))
    if not instruction.strip():
        return None, "empty instruction"
    if not output.strip():
        return None, "empty output"
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages = [{"role": "system", "content": system}] if system.strip() else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    return Example(row, messages, {"instruction": instruction, "input": extra, "output": output}), None


def _sharegpt_example(row: int, value: Any) -> tuple[Example | None, str | None]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list) or not value:
        return None, "`conversations` must be a non-empty list of {from, value}"
    messages = []
    for i, m in enumerate(value, start=1):
        if not isinstance(m, dict) or "from" not in m or "value" not in m:
            return None, f"conversation turn {i} needs `from` and `value`"
        if m["from"] not in SHAREGPT_ROLES:
            return None, f"conversation turn {i} is from {m['from']!r} (use system, human or gpt)"
        messages.append({"role": SHAREGPT_ROLES[m["from"]], "content": m["value"]})
    return _messages_example(row, messages)


def _preference_example(row: int, record: dict[str, Any]) -> tuple[Example | None, str | None]:
    prompt, chosen = record.get("prompt"), record.get("chosen")
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(chosen, str):
        chosen = [{"role": "assistant", "content": chosen}]
    if not isinstance(prompt, list) or not isinstance(chosen, list):
        return None, "`prompt` and `chosen` must be text or lists of {role, content}"
    return _messages_example(row, prompt + chosen)


def dataset_files(spec: str | None) -> list[Path]:
    """`--dataset_path` may name several files joined by commas (LLaMA-Factory's `--dataset a,b`)."""
    if not spec:
        return [SAMPLE]
    files = [Path(part.strip()).expanduser() for part in str(spec).split(",") if part.strip()]
    if not files:
        raise DataError(f"--dataset_path {spec!r} names no file")
    return files


def load_datasets(spec: str | None = None) -> list[Example]:
    """The examples of every file in `spec` (comma-separated), in order; each remembers its file."""
    examples: list[Example] = []
    for path in dataset_files(spec):
        for example in load_examples(path):
            example.source = str(path)
            examples.append(example)
    return examples


def load_examples(path: str | Path | None = None) -> list[Example]:
    """All examples of `path` (default: the shipped sample). DataError names the first bad rows."""
    path = Path(path).expanduser() if path else SAMPLE
    if not path.is_file():
        raise DataError(f"dataset not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unsupported format {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    reader = {".csv": _read_csv, ".json": _read_json, ".jsonl": _read_jsonl, ".parquet": _read_parquet}[suffix]
    rows = reader(path)
    if not rows:
        raise DataError(f"{path}: no examples")
    unit = "line" if suffix == ".jsonl" else "row"
    first = rows[0][1]
    if not isinstance(first, dict):
        raise DataError(f"{path}: {unit} {rows[0][0]} is not an object with named fields")
    kind = next((k for k in ("messages", "conversations", "chosen") if k in first), "alpaca")
    if kind == "alpaca" and not {"instruction", "output"} <= set(first):
        missing = sorted({"instruction", "output"} - set(first))
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, first)) or 'none'} "
            "(need instruction/input/output, messages, conversations, or prompt/chosen/rejected)"
        )
    examples, problems = [], []
    for number, record in rows:
        if not isinstance(record, dict):
            problems.append(f"{unit} {number}: not an object")
            continue
        if kind == "messages":
            example, problem = _messages_example(number, record.get("messages"))
        elif kind == "conversations":
            example, problem = _sharegpt_example(number, record.get("conversations"))
        elif kind == "chosen":
            example, problem = _preference_example(number, record)
        else:
            example, problem = _alpaca_example(number, record)
        if problem:
            problems.append(f"{unit} {number}: {problem}")
        else:
            examples.append(example)
    if problems:
        more = f" (and {len(problems) - MAX_REPORTED} more)" if len(problems) > MAX_REPORTED else ""
        raise DataError(f"{path}: " + "; ".join(problems[:MAX_REPORTED]) + more)
    return examples
