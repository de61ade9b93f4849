"""Bad input found by hand (issue #15): each is one line (`tuichat: error: …`, exit 2), caught before
a model loads or history is touched. Each test failed on the code before the fix."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from tuichat.cli.main import main
from tuichat.core.config import Settings, load_settings
from tuichat.errors import ConfigError, ModelLoadError

TUICHAT = [sys.executable, "-m", "tuichat.cli.main"]


def run(args, home, **kwargs):
    env = {**os.environ, "TUICHAT_HOME": str(home)}
    return subprocess.run(TUICHAT + args, capture_output=True, text=True, env=env, timeout=300,
                          stdin=kwargs.pop("stdin", subprocess.DEVNULL), **kwargs)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("tuichat: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def history_counts(home) -> tuple[int, int]:
    db = home / "data" / "history.sqlite3"
    if not db.exists():
        return 0, 0
    con = sqlite3.connect(db)
    return (con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0],
            con.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


@pytest.mark.parametrize("text, needle", [
    ('explicit = "x"\n', "unknown config key 'explicit'"),
    ('keys = "x"\n', "config key 'keys' must be a table"),
    ('[keys]\nstop = 5\n', "config key 'keys' must be a table"),
    ("temperature = nan\n", "out of range"),
])
def test_config_values_that_slipped_past_the_check(tmp_path, text, needle):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        load_settings(path)


def test_keys_as_a_string_is_one_line_at_start_not_an_app_crash(tuichat_home, capsys):
    (tuichat_home / "config").mkdir(parents=True)
    (tuichat_home / "config" / "config.toml").write_text('keys = "x"\n', encoding="utf-8")
    assert main(["ask", "--no-knowledge", "hi"]) == 2
    assert "keys" in one_error_line(capsys.readouterr().err)
    assert history_counts(tuichat_home) == (0, 0)


@pytest.mark.parametrize("flags, needle", [
    (["--max-new-tokens", "0"], "--max-new-tokens 0"),
    (["--temperature", "-1"], "--temperature -1"),
    (["--top-p", "0"], "--top-p 0"),
    (["--context-budget", "1"], "--context-budget 1"),
])
def test_sampling_flags_refused_before_a_session_is_created(tuichat_home, capsys, flags, needle):
    from tuichat.core.history import History

    History().close()  # history already exists: the refusal must add nothing to it
    assert main(["ask", "--no-knowledge", *flags, "hello"]) == 2
    assert needle in one_error_line(capsys.readouterr().err)
    assert history_counts(tuichat_home) == (0, 0)


def test_context_budget_holds_the_persona_and_fits_the_model(tiny_model_dir, tmp_path):
    from tuichat.bootstrap import open_session

    (tmp_path / "wordy.md").write_text("---\nname: wordy\n---\n" + "Be very thorough. " * 60, encoding="utf-8")
    said: list[str] = []
    session = open_session(Settings(model=str(tiny_model_dir), knowledge=False, persona="wordy", context_budget=64),
                           [tmp_path], progress=said.append)
    need = session.engine.count_tokens(session.persona.system_messages() + [{"role": "user", "content": ""}])
    assert session.settings.context_budget > need
    assert any("raised from 64" in line for line in said)
    reply = session.send("hi").wait()
    assert reply.prompt_tokens <= session.settings.context_budget

    said.clear()
    session = open_session(Settings(model=str(tiny_model_dir), knowledge=False, context_budget=50_000),
                           progress=said.append)
    assert session.settings.context_budget + session.settings.max_new_tokens <= 2048  # the tiny model's window
    assert any("lowered from 50000" in line for line in said)

    (tmp_path / "huge.md").write_text("---\nname: huge\n---\n" + "Be very thorough. " * 800, encoding="utf-8")
    with pytest.raises(ConfigError, match="persona 'huge' needs .* tokens of context but the model holds 2048"):
        open_session(Settings(model=str(tiny_model_dir), knowledge=False, persona="huge"), [tmp_path],
                     progress=said.append)


def test_corrupt_adapter_config_is_one_line(tiny_model_dir, tmp_path):
    from tuichat.runtime import models

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": ', encoding="utf-8")
    for force in (False, True):
        with pytest.raises(ModelLoadError, match="adapter_config.json is not valid JSON"):
            models.load(str(tiny_model_dir), str(adapter), force_adapter=force, progress=lambda _t: None)
    (adapter / "adapter_config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="must hold a JSON object"):
        models.load(str(tiny_model_dir), str(adapter), progress=lambda _t: None)


def test_ask_with_closed_stdin_answers_the_argument(tuichat_home, tiny_model_dir):
    env = {**os.environ, "TUICHAT_HOME": str(tuichat_home)}
    base = " ".join(TUICHAT) + f" ask --no-knowledge --model {tiny_model_dir} --max-new-tokens 3"
    result = subprocess.run(base + " hi <&-", shell=True, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert history_counts(tuichat_home)[1] >= 2  # greeting or not, the question and its answer are stored
    result = subprocess.run(base + " - <&-", shell=True, capture_output=True, text=True, env=env, timeout=300)
    assert "standard input is closed" in one_error_line(result.stderr)


def test_eval_writes_nothing_when_every_task_was_skipped(tiny_model_dir, tmp_path, capsys):
    from finetune.eval.__main__ import main as eval_main

    out = tmp_path / "out"
    (tmp_path / "data").mkdir()
    rc = eval_main(["--model", str(tiny_model_dir), "--data-dir", str(tmp_path / "data"), "--tasks", "boolq,arc_easy",
                    "--output", str(out), "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert rc == 2 and "every task was skipped" in err and "Traceback" not in err
    assert not out.exists()
