"""Loading instruction data: formats, languages, and bad input named by file and row."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune.data import SAMPLE, DataError, load_datasets, load_examples

DATA = Path(__file__).parent / "data"


def test_csv_rows_become_chat_messages_with_input_appended():
    examples = load_examples(DATA / "good.csv")
    assert [e.row for e in examples] == [1, 2, 3]
    assert examples[1].messages == [
        {"role": "user", "content": "把句子翻译成英文。\n\n你好，世界"},
        {"role": "assistant", "content": "Hello, world."},
    ]
    assert examples[0].alpaca == {"instruction": "Say hello", "input": "", "output": "Hello!"}


def test_json_jsonl_and_parquet_read_the_same_rows(tmp_path):
    import pandas as pd

    rows = [{"instruction": "Say hi", "input": "", "output": "Hi!"}, {"instruction": "数一数", "input": "1,2", "output": "两个"}]
    (tmp_path / "d.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    loaded = [load_examples(tmp_path / f"d.{ext}") for ext in ("json", "jsonl", "parquet")]
    assert loaded[0][1].messages == loaded[1][1].messages == loaded[2][1].messages
    assert loaded[2][1].messages[0]["content"] == "数一数\n\n1,2"


def test_messages_rows_keep_all_turns():
    examples = load_examples(DATA / "messages.jsonl")
    assert [m["role"] for m in examples[0].messages] == ["system", "user", "assistant", "user", "assistant"]
    assert examples[0].alpaca is None


def test_shipped_sample_has_english_and_chinese_rows():
    examples = load_examples(None)
    assert len(examples) >= 30
    assert any("\u4e00" <= ch <= "\u9fff" for e in examples for ch in e.messages[-1]["content"])
    assert SAMPLE.is_file()


def test_real_alpaca_demo_files_load(shared_data):
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        assert len(load_examples(shared_data / "alpaca" / name)) > 900


def test_comma_separated_files_are_mixed_and_remember_their_file(tmp_path):
    (tmp_path / "en.json").write_text(json.dumps([{"instruction": "Say hi", "output": "Hi!"}]), encoding="utf-8")
    (tmp_path / "zh.jsonl").write_text(json.dumps({"instruction": "问好", "output": "你好！"}, ensure_ascii=False) + "\n"
                                       + json.dumps({"instruction": "数一数", "output": "两个"}, ensure_ascii=False),
                                       encoding="utf-8")
    examples = load_datasets(f"{tmp_path / 'en.json'}, {tmp_path / 'zh.jsonl'}")
    assert [(Path(e.source).name, e.row, e.messages[-1]["content"]) for e in examples] == [
        ("en.json", 1, "Hi!"), ("zh.jsonl", 1, "你好！"), ("zh.jsonl", 2, "两个")]
    with pytest.raises(DataError, match=r"dataset not found: .*missing.json"):
        load_datasets(f"{tmp_path / 'en.json'},{tmp_path / 'missing.json'}")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("missing_column.csv", r"missing column\(s\) output; found instruction, input, response"),
        ("empty_output.jsonl", r"line 2: empty output"),
        ("non_utf8.csv", r"line 3 is not valid UTF-8"),
        ("stray_quote.csv", r"row 2 \(line 3\).*quote"),
    ],
)
def test_bad_files_are_refused_with_row_numbers(name, expected):
    with pytest.raises(DataError, match=expected) as info:
        load_examples(DATA / name)
    assert name in str(info.value)


def test_unclosed_quote_names_the_line_where_the_field_starts(tmp_path):
    path = tmp_path / "unclosed.csv"
    path.write_text('instruction,input,output\na,b,c\n"open,b,c\nd,e,f\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2 \(line 3\)"):
        load_examples(path)


def test_many_bad_rows_are_summarised_in_one_line(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(json.dumps({"instruction": f"q{i}", "output": ""}) for i in range(8)))
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert "line 1: empty output" in str(info.value) and "(and 3 more)" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, "message 1 has role 'bot'"),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}, "empty assistant"),
    ],
)
def test_bad_messages_rows(tmp_path, record, expected):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
                    + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError, match=f"line 2: {expected}"):
        load_examples(path)


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported format .txt"):
        load_examples(tmp_path / "x.txt")
    with pytest.raises(DataError, match="not found"):
        load_examples(tmp_path / "nope.json")
