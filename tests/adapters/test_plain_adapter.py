"""`/adapter NAME` in the plain REPL: switch, back to base (same answer as before), errors in one line."""
from __future__ import annotations

import io

from tuichat.adapters.switcher import answer_models
from tuichat.cli.plain import repl


def test_plain_adapter_command_switches_and_base_restores(make_chat, capsys, tiny_model_dir):
    session, _ = make_chat()
    lines = ["Name three colours.", "/adapter alpha", "Name three colours.", "/adapter nope",
             "/adapter base", "Name three colours.", "/adapter", "quit"]
    out = io.StringIO()
    assert repl(session, io.StringIO("\n".join(lines) + "\n"), out) == 0
    err = capsys.readouterr().err
    answers = [m.content for m in session.history.messages(session.session_id) if m.role == "assistant"][1:]
    assert len(answers) == 3 and answers[0] == answers[2] != answers[1]  # [0] is after the greeting
    assert all(a in out.getvalue() for a in answers)
    assert f"[model: {tiny_model_dir.name} + alpha · switched in" in err
    assert "tuichat: no adapter named 'nope' (known: alpha, beta;" in err
    assert "  beta: base " in err and "[active: base]" in err
    assert sorted(answer_models(session.history, session.session_id).values()).count(f"{tiny_model_dir.name} + alpha") == 1
