"""Fuzzing the fine-tune dataset readers (CSV, JSON, JSONL, Parquet) and the benchmark readers
(finetune/eval/formats.py): whatever the file holds, only DataError / EvalDataError escape — and a
benchmark file that cannot be read is skipped while the other tasks still run."""
from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import given, strategies as st

from finetune.data import DataError, load_examples
from finetune.eval import formats
from finetune.eval.formats import EvalDataError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=10)
messages = st.lists(st.one_of(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "x"]),
                                                     "content": st.one_of(st.text(max_size=30), values)}), values),
                    max_size=4)
record = st.one_of(
    st.fixed_dictionaries({"instruction": st.one_of(st.text(max_size=30), values), "output": st.one_of(st.text(max_size=30), values)},
                          optional={"input": st.one_of(st.text(max_size=20), values)}),
    st.fixed_dictionaries({"messages": st.one_of(messages, values)}),
    values)
ALPACA_FIELDS = ["instruction", "input", "output", "messages", "x"]


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


@st.composite
def dataset_files(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".csv", ".json", ".jsonl"]))
    if draw(st.integers(0, 4)) == 0:
        return suffix, draw(st.binary(max_size=200))
    if suffix == ".csv":
        header = draw(st.lists(st.sampled_from(ALPACA_FIELDS), min_size=1, max_size=4))
        rows = draw(st.lists(st.lists(st.text(max_size=20), max_size=5), max_size=5))
        return suffix, _csv([header, *rows]) + draw(st.sampled_from([b"", b'"', b"\0", b"a,\"b"]))
    records = draw(st.lists(record, max_size=5))
    if suffix == ".json":
        body = json.dumps(draw(st.sampled_from([records, {"data": records}, records[:1]])), default=str)
    else:
        body = "\n".join(json.dumps(r, default=str) for r in records) + draw(st.sampled_from(["", "\n{", "\n[]"]))
    return suffix, body.encode("utf-8", "surrogatepass")


@given(dataset_files())
def test_finetune_datasets(item):
    suffix, data = item
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        path.write_bytes(data)
        try:
            examples = load_examples(path)
        except DataError:
            return
        assert examples and all(m["role"] in ("system", "user", "assistant") and isinstance(m["content"], str)
                                for e in examples for m in e.messages)


@given(st.lists(record, min_size=1, max_size=4), st.binary(max_size=64))
def test_finetune_parquet(records, junk):
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.parquet"
        try:
            pd.DataFrame([r if isinstance(r, dict) else {"x": r} for r in records]).astype(str).to_parquet(path)
        except Exception:  # pyarrow cannot store this frame: only the junk bytes are tried
            path.write_bytes(junk)
        for data in (path.read_bytes(), path.read_bytes()[: len(junk)] + junk):
            path.write_bytes(data)
            try:
                load_examples(path)
            except DataError:
                pass


BENCH_KEYS = ["question", "choices", "answerKey", "answer", "label", "passage", "ctx", "endings", "sentence",
              "option1", "option2", "stem", "text", "id", "activity_label"]
bench_values = st.one_of(values, st.fixed_dictionaries({"stem": st.text(max_size=20),
                                                        "choices": st.lists(st.dictionaries(
                                                            st.sampled_from(["label", "text"]), values, max_size=2),
                                                            max_size=4)}),
                         st.lists(st.text(max_size=10), max_size=5),
                         st.fixed_dictionaries({"text": st.lists(st.text(max_size=10), max_size=4),
                                                "label": st.lists(st.text(max_size=2), max_size=4)}))
JSONL_READERS = [formats.read_arc, formats.read_boolq, formats.read_hellaswag, formats.read_winogrande]
CSV_READERS = [formats.read_mmlu_csv, formats.read_cmmlu_csv, formats.read_ceval_csv]


@st.composite
def benchmark_files(draw):
    if draw(st.booleans()):
        reader = draw(st.sampled_from(JSONL_READERS))
        lines = draw(st.lists(st.dictionaries(st.sampled_from(BENCH_KEYS), bench_values, max_size=6), max_size=4))
        body = "\n".join(json.dumps(line, default=str) for line in lines).encode("utf-8", "surrogatepass")
        name = "bench.jsonl"
    else:
        reader = draw(st.sampled_from(CSV_READERS))
        rows = draw(st.lists(st.lists(st.one_of(st.text(max_size=12), st.sampled_from("ABCD")), max_size=8), max_size=4))
        body = _csv(rows)
        name = "bench.csv"
    if draw(st.integers(0, 3)) == 0:
        body = draw(st.binary(max_size=120))
    return reader, name, body


@given(benchmark_files())
def test_benchmark_files(item):
    reader, name, body = item
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(body)
        try:
            docs = reader(path)
        except EvalDataError:
            return
        for doc in docs:
            assert len(doc.choices) >= 2 and 0 <= doc.gold < len(doc.choices)
