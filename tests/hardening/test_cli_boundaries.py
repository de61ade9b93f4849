"""Every plain-CLI boundary where untrusted text meets the terminal, in process: documents and file
names (kb sync/status/query, the `[sources: …]` line of ask), personas and cards (personas
list/show/import), the model's answer (ask, --plain, split escapes), error lines. Nothing may carry
ESC, a C1 control or BEL; the text around the escapes stays readable."""
from __future__ import annotations

import io

import pytest

from tuichat.cli.main import main
from tuichat.text_safety import SafeOutput, is_clean, safe_output, visible

from payloads import ALL, MARKUP


def assert_inert(*texts: str) -> None:
    for text in texts:
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text, repr(text)


def test_visible_keeps_text_newlines_and_tabs_and_neutralises_controls():
    assert visible("line 1\n\tline 2 · 中文") == "line 1\n\tline 2 · 中文"
    shown = visible(ALL)
    assert is_clean(shown) and not is_clean(ALL)
    assert shown.startswith("␛]52;c;SEFSREVOLUNMSVA=␇") and "HARDENC1\\x9b2J" in shown
    assert visible("a\rb\x00c\x7f\x85") == "a␍b␀c␡\\x85"
    # per character: any split of a sequence between two writes is caught
    for cut in range(len(ALL)):
        assert visible(ALL[:cut]) + visible(ALL[cut:]) == shown


def test_safe_output_wraps_and_restores_the_streams(capsys):
    import sys

    before = sys.stdout
    with safe_output():
        assert isinstance(sys.stdout, SafeOutput) and isinstance(sys.stderr, SafeOutput)
        print("x" + ALL)
        sys.stdout.write("\x1b")
        sys.stdout.write("[2J")
    assert sys.stdout is before
    assert_inert(capsys.readouterr().out)
    raw = io.StringIO()
    SafeOutput(raw).writelines(["ok\x1b]0;t\x07\n"])
    assert raw.getvalue() == "ok␛]0;t␇\n"


def test_kb_sync_status_query_show_names_and_passages_inertly(hostile_kb, capsys):
    assert main(["kb", "sync", "--knowledge", str(hostile_kb)]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert "added harden␛]0;HARDEN-TITLE␛\\.md" in out and "broken␛]52;c;" in err

    assert main(["kb", "status", "--knowledge", str(hostile_kb)]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert "harden␛]0;HARDEN-TITLE" in out and "broken␛]52;c;" in out

    assert main(["kb", "query", "how often should brass teapots be descaled", "--knowledge", str(hostile_kb)]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert "HARDENCLR␛[2J" in out and "harden␛]0;HARDEN-TITLE" in out


def test_personas_list_show_import_export(hostile_personas, hostile_card, tmp_path, capsys):
    assert main(["personas", "list", "--personas-dir", str(hostile_personas)]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert "Evil ␛]52;c;" in out

    for extra in ([], ["--raw"]):
        assert main(["personas", "show", "hostile", "--personas-dir", str(hostile_personas), *extra]) == 0
        out, err = capsys.readouterr()
        assert_inert(out, err)
        assert "HARDENCLR␛[2J" in out and MARKUP in out

    assert main(["personas", "import", str(hostile_card), "--name", "cardy"]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert "Cardy␛]0;HARDEN-TITLE" in out and "card␛]52;c;" in out  # the card's title and its file name
    assert main(["personas", "show", "cardy"]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert "Hi from the card ␛]52;c;" in out
    assert main(["personas", "export", "cardy"]) == 0
    assert_inert(capsys.readouterr().out)


def test_error_lines_show_untrusted_paths_inertly(tmp_path, capsys):
    assert main(["kb", "status", "--knowledge", str(tmp_path / f"gone{ALL}")]) == 2
    err = capsys.readouterr().err
    assert_inert(err)
    assert err.startswith("tuichat: error: knowledge folder not found") and "gone␛]52;c;" in err


@pytest.fixture
def tiny_args(tiny_model_dir):
    return ["--model", str(tiny_model_dir), "--max-new-tokens", "4"]


def test_ask_answer_and_sources_line(hostile_kb, hostile_model, tiny_args, capsys):
    question = "how often should brass teapots be descaled"
    assert main(["ask", *tiny_args, "--knowledge", str(hostile_kb), question]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert out.startswith("Sure. ␛]52;c;SEFSREVOLUNMSVA=␇ then HARDENCLR␛[2J") and MARKUP in out
    assert "[sources: harden␛]0;HARDEN-TITLE␛\\.md" in err


def test_plain_greeting_answers_and_persona_switch(hostile_personas, hostile_model, tiny_args, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\npersona hostile\nquit\n"))
    assert main(["--plain", *tiny_args, "--no-knowledge", "--persona", "hostile",
                 "--personas-dir", str(hostile_personas)]) == 0
    out, err = capsys.readouterr()
    assert_inert(out, err)
    assert out.count("Hello ␛]52;c;") == 2  # the greeting at start and after `persona hostile`
    assert "Sure. ␛]52;c;SEFSREVOLUNMSVA=␇ then HARDENCLR␛[2J" in out and "[persona: hostile]" in err
