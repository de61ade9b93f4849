"""The command line as a user runs it: real subprocesses, the embedded model end to end."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

TUICHAT = [sys.executable, "-m", "tuichat.cli.main"]


def run(args, home, stdin=subprocess.DEVNULL, input=None, timeout=300):
    env = {**os.environ, "TUICHAT_HOME": str(home)}
    return subprocess.run(TUICHAT + args, capture_output=True, text=True, env=env, stdin=None if input else stdin,
                          input=input, timeout=timeout)


def history_rows(home):
    db = home / "data" / "history.sqlite3"
    if not db.exists():
        return []
    return sqlite3.connect(db).execute("SELECT role, content, partial FROM messages ORDER BY id").fetchall()


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("tuichat: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_version_and_help(tuichat_home):
    assert run(["--version"], tuichat_home).stdout.startswith("tuichat ")
    out = run(["--help"], tuichat_home).stdout
    for word in ("--plain", "--model", "--adapter", "--persona", "ask"):
        assert word in out


@pytest.mark.parametrize("make_args", [
    lambda tmp: ["--model", str(tmp / "nope")],
    lambda tmp: ["--model", str(tmp)],                                   # a folder that is not a model
    lambda tmp: ["--model", str(tmp / "bad.gguf")],                      # not a real GGUF
    lambda tmp: ["--adapter", str(tmp / "missing-adapter")],
    lambda tmp: ["--persona", "no-such-persona"],
])
def test_bad_input_is_one_line_and_writes_nothing(tuichat_home, tmp_path, make_args):
    (tmp_path / "bad.gguf").write_bytes(b"GGUF not really")
    result = run(["ask", "--no-knowledge", *make_args(tmp_path), "hello"], tuichat_home)
    assert_one_line_error(result)
    assert history_rows(tuichat_home) == []


def test_corrupt_config_is_refused_naming_the_key(tuichat_home):
    (tuichat_home / "config").mkdir(parents=True)
    (tuichat_home / "config" / "config.toml").write_text("temprature = 0.2\n")
    assert_one_line_error(run(["ask", "hi"], tuichat_home), "temprature")


def test_closed_stdin_is_a_clear_error(tuichat_home):
    env = {**os.environ, "TUICHAT_HOME": str(tuichat_home)}
    result = subprocess.run(" ".join(TUICHAT) + " --plain <&-", shell=True, capture_output=True, text=True, env=env)
    assert_one_line_error(result, "standard input")


def test_ask_answers_with_the_embedded_model(tuichat_home, embedded_model_dir):
    result = run(["ask", "--no-knowledge", "--temperature", "0", "--max-new-tokens", "16",
                  "What is the capital of France?"], tuichat_home)
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "tok/s" in result.stderr
    assert history_rows(tuichat_home)[-2:] == [
        ("user", "What is the capital of France?", 0), ("assistant", result.stdout.strip(), 0)]


def test_plain_repl_with_newsession_and_quit(tuichat_home, embedded_model_dir):
    script = "What is the capital of France?\nnewsession\nName a colour.\nquit\nnever sent\n"
    result = run(["--plain", "--no-knowledge", "--temperature", "0", "--max-new-tokens", "12"], tuichat_home,
                 input=script)
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout and "[new session]" in result.stderr
    db = sqlite3.connect(tuichat_home / "data" / "history.sqlite3")
    users = db.execute("SELECT session_id, content FROM messages WHERE role = 'user' ORDER BY id").fetchall()
    assert [u[1] for u in users] == ["What is the capital of France?", "Name a colour."]
    assert users[0][0] != users[1][0], "newsession starts a new session"
    assert db.execute("SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND partial = 0").fetchone()[0] >= 2
