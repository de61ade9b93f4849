"""Persona evaluation: the metric as pure functions, then one real run on the embedded model."""
from __future__ import annotations

import csv
import json

import pytest

from tuichat.errors import PersonaError
from tuichat.personas.evaluation import (
    EvalPrompt,
    EvalResult,
    default_prompts_file,
    display_width,
    format_table,
    keywords_found,
    load_prompts,
    make_row,
    run_eval,
    summarize,
    summarize_groups,
    to_json,
    write_csv,
    write_json,
)
from tuichat.personas.library import PersonaLibrary

CAT_EN = ("nya", "meow", "master", "tail", "ears", "purr")
CAT_ZH = ("猫娘", "主人", "喵", "尾巴")


@pytest.mark.parametrize(
    ("text", "keywords", "found"),
    [
        ("Yes, MASTER! Nya~", CAT_EN, ["nya", "master"]),
        ("My tails are fluffy; I'm purring.", CAT_EN, ["tail", "purr"]),  # a word may continue
        ("The details, over the years, got mastered?", ("tail", "ears", "master"), ["master"]),  # but not start mid-word
        ("主人好喵～喵喵喵", CAT_ZH, ["主人", "喵"]),  # distinct keywords, not occurrences
        ("Paris is the capital of France.", CAT_EN, []),
        ("", CAT_ZH, []),
    ],
)
def test_keywords_found(text, keywords, found):
    assert keywords_found(text, keywords) == found


def _rows():
    prompts = [EvalPrompt(str(i), f"q{i}") for i in range(1, 5)]
    replies = [("nya master", "hello"), ("meow", "meow"), ("plain", "plain"), ("tail ears purr", "no")]
    return [make_row(p, w, wo, CAT_EN) for p, (w, wo) in zip(prompts, replies)]


def test_summary_arithmetic():
    s = summarize(_rows())
    assert s.prompts == 4
    assert s.hit_rate_with == pytest.approx(3 / 4) and s.hit_rate_without == pytest.approx(1 / 4)
    assert s.mean_keywords_with == pytest.approx((2 + 1 + 0 + 3) / 4)
    assert s.mean_keywords_without == pytest.approx(1 / 4)
    assert summarize([]).hit_rate_with == 0.0


def test_table_csv_and_json_agree(tmp_path):
    result = EvalResult("catgirl-en", "tiny", {"temperature": 0.0}, _rows())
    table = format_table(result)
    lines = table.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["#", "kind", "lang", "prompt", "with persona", "without"]
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["1", "", "", "q1", "2 nya,master", "0 -"]
    assert "keyword hit rate       with persona  75.0%   without  25.0%" in table
    assert "mean keywords / reply  with persona   1.50   without   0.25" in table

    write_csv(result, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert [int(r["with_hits"]) for r in rows] == [2, 1, 0, 3]
    assert rows[3]["with_keywords"] == "tail ears purr"

    write_json(result, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data == to_json(result)
    assert data["summary"]["hit_rate_with"] == 0.75 and data["rows"][0]["with_keywords"] == ["nya", "master"]


def test_group_summaries_split_by_kind_and_language():
    prompts = [EvalPrompt("1", "a", "chat", "en"), EvalPrompt("2", "b", "knowledge", "en"),
               EvalPrompt("3", "c", "knowledge", "zh")]
    rows = [make_row(p, w, "", CAT_EN) for p, w in zip(prompts, ["nya", "Paris.", "master"])]
    groups = summarize_groups(rows)
    assert list(groups) == ["kind=chat", "kind=knowledge", "language=en", "language=zh"]
    assert groups["kind=knowledge"].hit_rate_with == pytest.approx(0.5) and groups["kind=knowledge"].prompts == 2
    assert groups["language=en"].hit_rate_with == pytest.approx(0.5)
    table = format_table(EvalResult("catgirl-en", "m", {}, rows))
    line = next(line for line in table.splitlines() if "kind=knowledge" in line)
    assert line.split() == ["kind=knowledge", "50.0%", "/", "0.0%", "(2", "prompts)"]


def test_table_columns_line_up_with_chinese_text():
    prompts = [EvalPrompt("1", "中国的首都是哪里？", "knowledge", "zh"), EvalPrompt("2", "Hi", "chat", "en")]
    rows = [make_row(prompts[0], "主人，是北京喵", "北京", CAT_ZH), make_row(prompts[1], "nya", "hi", CAT_ZH)]
    table_lines = format_table(EvalResult("catgirl", "m", {}, rows)).splitlines()[:4]
    assert len({display_width(line) for line in table_lines}) == 1


def test_default_prompt_set_mixes_languages_and_kinds():
    prompts = load_prompts(default_prompts_file())
    assert 16 <= len(prompts) <= 20
    assert {p.language for p in prompts} == {"en", "zh"}
    assert {p.kind for p in prompts} == {"chat", "knowledge"}
    assert len({p.id for p in prompts}) == len(prompts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "ok"}\n{"prompt": "broken"\n', r"p.jsonl:2: not a JSON object"),
        ('{"prompt": ""}\n', r"p.jsonl:1: each line needs a non-empty \"prompt\""),
        ('{"prompt": "x", "lang": "en"}\n', r"p.jsonl:1: unknown key\(s\) lang"),
        ("\n# only a comment\n", r"p.jsonl: the prompt set has no prompts"),
    ],
)
def test_bad_prompt_sets(tmp_path, text, message):
    f = tmp_path / "p.jsonl"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PersonaError, match=message):
        load_prompts(f)


def test_a_persona_without_keywords_cannot_be_evaluated():
    with pytest.raises(PersonaError, match="persona 'assistant' has no keywords"):
        run_eval(None, PersonaLibrary().get("assistant"), [EvalPrompt("1", "hi")], None)


def test_embedded_model_with_and_without_the_catgirl_persona(embedded_model_dir, one_torch_thread):
    """The real thing, small: two English chit-chat prompts, greedy, 12 new tokens."""
    from tuichat.core.config import Settings
    from tuichat.core.history import History
    from tuichat.core.session import ChatSession
    from tuichat.runtime.transformers_backend import Engine

    # fp32 pinned: the measured CPU dtype can differ between runs, and greedy text with it.
    engine = Engine.load(str(embedded_model_dir), device="cpu", dtype="float32", progress=lambda _t: None)
    settings = Settings(temperature=0.0, max_new_tokens=12, repetition_penalty=1.1, knowledge=False)
    session = ChatSession(engine, History(":memory:"), PersonaLibrary(), None, settings, persona="catgirl-en")
    persona = session.persona
    prompts = [EvalPrompt("1", "Hi! How are you today?", "chat", "en"),
               EvalPrompt("2", "Tell me a little about yourself.", "chat", "en")]
    params = settings.generation_params()
    result = run_eval(lambda text, with_persona: session.answer_alone(text, persona=with_persona).wait().text,
                      persona, prompts, params, model=engine.model_name)

    for row in result.rows:
        assert row.with_reply and row.without_reply
        assert row.with_keywords == keywords_found(row.with_reply, persona.keywords)
        assert row.without_keywords == keywords_found(row.without_reply, persona.keywords)
    assert result.summary == summarize(result.rows)
    # The persona reaches the model: its replies differ from the bare ones. (Whether 12 greedy tokens
    # already contain one of its keywords is a measurement, not a property: `tuichat eval persona`.)
    assert any(row.with_reply != row.without_reply for row in result.rows)
    table = format_table(result)
    assert f"with persona {result.summary.hit_rate_with:6.1%}   without {result.summary.hit_rate_without:6.1%}" in table
    assert result.params["temperature"] == 0.0 and result.model == engine.model_name
