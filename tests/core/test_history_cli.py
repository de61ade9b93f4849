"""`tuichat history …` on a real history file (sessions made through ChatSession on FakeRuntime)."""
import json
import sqlite3

import pytest

from tuichat.cli.main import main


@pytest.fixture
def two_sessions(fake_session):
    s = fake_session(answers=["Paris is the capital.", "It is Paris!", "Berlin", "天气很好 \x1b[31mred"], persona="catgirl")
    s.send("What is the capital of France?").wait()
    s.regenerate().wait()
    s.flip(s.branch()[-1].id, -1)  # the user keeps the first answer
    s.send("And Germany?").wait()
    first = s.session_id
    s.new_session()
    s.send("今天天气怎么样").wait()
    return s, first


def run(capsys, *argv):
    code = main(["history", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_show_and_search(two_sessions, capsys):
    s, first = two_sessions
    code, out, _ = run(capsys, "list")
    assert code == 0 and "What is the capital of France?" in out and "今天天气怎么样" in out
    code, out, _ = run(capsys, "show", str(first))
    assert "Paris is the capital. " not in out and "(version 1/2)" in out and "It is Paris!" not in out
    code, out, _ = run(capsys, "search", "capital")
    assert code == 0 and out.count(f"session {first:>4}") == 2
    code, out, _ = run(capsys, "search", "天气")  # two characters: below the trigram index, still found
    assert "天气很好 ␛[31mred" in out and "\x1b" not in out, "control codes are shown, never sent"


def test_bad_input_is_one_line_and_changes_nothing(two_sessions, capsys, tmp_path):
    s, first = two_sessions
    before = sqlite3.connect(s.history.path).execute("SELECT COUNT(*) FROM messages").fetchone()
    for argv, message in [
        (("search", '"capital'), "unbalanced quote"),
        (("show", "999"), "no session 999"),
        (("delete", "999"), "no session 999"),
        (("export", "--all", "--output", str(tmp_path / "missing" / "x.jsonl")), "cannot write"),
    ]:
        code, out, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and message in err and err.startswith("tuichat: error:"), argv
    assert sqlite3.connect(s.history.path).execute("SELECT COUNT(*) FROM messages").fetchone() == before
    assert not (tmp_path / "missing").exists()


def test_export_dpo_prefers_the_answer_the_user_kept(two_sessions, capsys, tmp_path):
    s, first = two_sessions
    out = tmp_path / "dpo.jsonl"
    code, _, _ = run(capsys, "export", "--format", "dpo", "--session", str(first), "--output", str(out))
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["content"] == "What is the capital of France?"
    assert row["chosen"][0]["content"] == "Paris is the capital." and row["rejected"][0]["content"] == "It is Paris!"


def test_delete_removes_the_session_and_its_messages(two_sessions, capsys):
    s, first = two_sessions
    code, out, _ = run(capsys, "delete", str(first))
    assert code == 0 and "deleted session" in out
    assert s.history.messages(first) == [] and s.history.session(s.session_id) is not None
