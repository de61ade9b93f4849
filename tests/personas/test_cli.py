"""`tuichat personas …` and `tuichat eval persona` through the real CLI entry point (in process)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuichat import paths
from tuichat.cli.main import main
from tuichat.personas.library import PersonaLibrary

CARDS = Path(__file__).parent / "data" / "cards"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_persona_and_where_it_comes_from(capsys):
    (paths.user_personas_dir() / "tutor.md").write_text("---\nname: tutor\n---\nMy tutor.\n", encoding="utf-8")
    (paths.user_personas_dir() / "broken.md").write_text("---\nname: [\n---\nx\n", encoding="utf-8")
    code, out, err = run(capsys, "personas", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(lines) >= {"assistant", "catgirl", "catgirl-en", "translator", "tutor"}
    assert " bundled " in lines["catgirl"] and str(paths.bundled_personas_dir() / "catgirl.md") in lines["catgirl"]
    assert " user " in lines["tutor"] and "(overrides " in lines["tutor"]
    assert err.startswith("tuichat: warning: ") and "broken.md:3: invalid YAML front matter: expected the node content, but found 'the closing ---'" in err


def test_show_prints_the_system_prompt_and_examples(capsys):
    code, out, _ = run(capsys, "personas", "show", "catgirl")
    persona = PersonaLibrary().get("catgirl")
    assert code == 0
    assert persona.system_prompt in out and persona.greeting in out
    assert f"example exchanges ({len(persona.examples)})" in out
    code, out, _ = run(capsys, "personas", "show", "catgirl", "--raw")
    assert out == (paths.bundled_personas_dir() / "catgirl.md").read_text(encoding="utf-8")


def test_show_unknown_is_a_one_line_error(capsys):
    code, out, err = run(capsys, "personas", "show", "nobody")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and err.startswith("tuichat: error: unknown persona 'nobody'")


def test_import_refuses_to_overwrite_without_force(capsys):
    code, out, _ = run(capsys, "personas", "import", str(CARDS / "seraphina_v2.json"))
    dest = paths.user_personas_dir() / "seraphina.md"
    assert code == 0 and str(dest) in out
    first = dest.read_text(encoding="utf-8")
    code, _, err = run(capsys, "personas", "import", str(CARDS / "seraphina_v2.json"))
    assert code == 2 and "already exists; pass --force" in err
    code, _, _ = run(capsys, "personas", "import", str(CARDS / "seraphina_v2.json"), "--force")
    assert code == 0 and dest.read_text(encoding="utf-8") == first
    code, _, _ = run(capsys, "personas", "import", str(CARDS / "neko_v1.json"), "--name", "xiaohua")
    assert code == 0 and PersonaLibrary().get("xiaohua").title == "小花"


def test_export_and_reimport_under_another_name(capsys, tmp_path):
    card = tmp_path / "card.json"
    code, _, _ = run(capsys, "personas", "export", "catgirl-en", "-o", str(card))
    assert code == 0 and json.loads(card.read_text(encoding="utf-8"))["spec"] == "chara_card_v2"
    code, _, _ = run(capsys, "personas", "import", str(card), "--name", "kitty")
    kitty, original = PersonaLibrary().get("kitty"), PersonaLibrary().get("catgirl-en")
    assert code == 0
    assert (kitty.system_prompt, kitty.examples, kitty.keywords) == (original.system_prompt, original.examples, original.keywords)


def test_eval_persona_end_to_end_on_the_tiny_model(capsys, tmp_path, tiny_model_dir):
    """Through a chat session on the user's settings (config.toml), greedy by default, nothing stored."""
    from tuichat import paths
    from tuichat.core.history import History

    paths.config_file().write_text("repetition_penalty = 1.25\ncontext_budget = 300\n", encoding="utf-8")
    csv_file, json_file = tmp_path / "out" / "r.csv", tmp_path / "out" / "r.json"
    code, out, err = run(capsys, "eval", "persona", "--persona", "catgirl", "--model", str(tiny_model_dir),
                         "--limit", "3", "--max-new-tokens", "4", "--csv", str(csv_file), "--json", str(json_file))
    assert code == 0, err
    assert "| # " in out and "keyword hit rate" in out and "mean keywords / reply" in out
    assert err.count("[with persona") == 3 and err.count("[without persona") == 3
    data = json.loads(json_file.read_text(encoding="utf-8"))
    assert data["persona"] == "catgirl" and data["params"]["temperature"] == 0.0
    assert data["params"]["repetition_penalty"] == 1.25 and data["params"]["max_new_tokens"] == 4
    assert History().sessions() == [], "an evaluation stores no chat"
    assert len(data["rows"]) == 3 and len(csv_file.read_text(encoding="utf-8").splitlines()) >= 4
    hits = sum(1 for r in data["rows"] if r["with_keywords"]) / 3
    assert data["summary"]["hit_rate_with"] == pytest.approx(hits)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--persona", "assistant"], "persona 'assistant' has no keywords"),
        (["--persona", "catgirl", "--prompts", "{missing}"], "cannot read the prompt set"),
        (["--persona", "ghost"], "unknown persona 'ghost'"),
    ],
)
def test_eval_persona_bad_input_fails_before_loading_a_model(capsys, tmp_path, args, needle):
    args = [a.format(missing=tmp_path / "missing.jsonl") for a in args]
    code, out, err = run(capsys, "eval", "persona", "--model", str(tmp_path / "no-model"), *args)
    assert code == 2 and needle in err and "Loading" not in err


def test_persona_modules_stay_light():
    """The picker, `personas list` and the eval's cheap checks must not pay for torch or textual."""
    import subprocess
    import sys

    code = ("import sys, tuichat.personas.library, tuichat.personas.cards, tuichat.personas.evaluation, tuichat.cli.personas_cmd;"
            "print(sorted(m for m in ('torch', 'transformers', 'textual') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
