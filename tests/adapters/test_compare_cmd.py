"""`tuichat compare`: base vs adapter on the same prompts, Markdown + CSV, greedy and repeatable."""
from __future__ import annotations

import csv

from tuichat.cli.main import main
from tuichat.runtime.base import GenerationParams


def test_compare_writes_markdown_and_csv_side_by_side(tiny_model_dir, runs_dir, tmp_path, adapter_engine):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# before/after examples\nName three colours.\n\nWhat is 2+2? | pipes stay in the cell\n",
                       encoding="utf-8")
    out = tmp_path / "report" / "compare.md"
    code = main(["compare", "--model", str(tiny_model_dir), "--device", "cpu", "--dtype", "float32",
                 "--adapter", str(runs_dir / "alpha"), str(prompts), "--output", str(out), "--max-new-tokens", "8"])
    assert code == 0
    rows = list(csv.reader((tmp_path / "report" / "compare.csv").open(encoding="utf-8")))
    assert rows[0] == ["prompt", "base", "alpha"]
    assert [r[0] for r in rows[1:]] == ["Name three colours.", "What is 2+2? | pipes stay in the cell"]
    assert any(r[1] != r[2] for r in rows[1:]), "the adapter changed no answer"
    params = GenerationParams(temperature=0.0, max_new_tokens=8, repetition_penalty=1.1, seed=0)
    adapter_engine.set_adapter(None)
    expected = adapter_engine.generate([{"role": "user", "content": "Name three colours."}], params)[0].strip()
    assert rows[1][1] == expected  # the base column is exactly what the model answers greedily
    markdown = out.read_text(encoding="utf-8")
    assert "| # | prompt | base | alpha |" in markdown and "2+2? \\| pipes" in markdown
    assert "temperature 0.0 (greedy) · seed 0" in markdown


def test_compare_bad_input_is_one_line(tmp_path, runs_dir, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    assert main(["compare", "--adapter", str(runs_dir / "alpha"), str(empty)]) == 2
    assert capsys.readouterr().err.strip() == f"tuichat: error: prompts file {empty} holds no prompt"
    assert main(["compare", "--adapter", str(tmp_path / "gone"), str(empty)]) == 2
    assert "tuichat: error: prompts file" in capsys.readouterr().err  # prompts are checked first
    good = tmp_path / "p.txt"
    good.write_text("hi\n", encoding="utf-8")
    assert main(["compare", "--adapter", str(tmp_path / "gone"), str(good)]) == 2
    assert capsys.readouterr().err.strip() == f"tuichat: error: adapter folder {tmp_path / 'gone'} does not exist (deleted or moved?)"
