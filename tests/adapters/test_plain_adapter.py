"""`/adapter NAME` in the plain REPL: switch, back to base (same answer as before), errors in one line."""
from __future__ import annotations

import io

from tuichat.cli.plain import repl


def test_plain_adapter_command_switches_and_base_restores(make_chat, capsys, tiny_model_dir):
    session, _ = make_chat()
    question = "Name three colours."  # asked in a fresh session each time, so every prompt is the same
    lines = [question, "/adapter alpha", "newsession", question, "/adapter nope", "/adapter base", "newsession",
             question, "/adapter", "quit"]
    out = io.StringIO()
    assert repl(session, io.StringIO("\n".join(lines) + "\n"), out) == 0
    err = capsys.readouterr().err
    stored = [m for s in reversed(session.history.sessions()) for m in session.history.messages(s.id)
              if m.role == "assistant" and m.parent_id is not None]
    answers = [m.content for m in stored]
    assert len(answers) == 3 and answers[0] == answers[2] != answers[1]
    assert all(a.strip() in out.getvalue() for a in answers)
    assert [m.model for m in stored] == [tiny_model_dir.name, f"{tiny_model_dir.name} + alpha", tiny_model_dir.name]
    assert f"[model: {tiny_model_dir.name} + alpha · switched in" in err
    assert "tuichat: no adapter named 'nope' (known: alpha, beta;" in err
    assert "  beta: base " in err and "[active: base]" in err
