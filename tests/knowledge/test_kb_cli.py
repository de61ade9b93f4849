"""`tuichat kb …` and `tuichat eval knowledge` through the real CLI entry point."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tuichat.cli.main import main
from tuichat.errors import KnowledgeError
from tuichat.knowledge.evaluation import load_questions

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "knowledge" / "sample"
QUESTIONS = REPO / "knowledge" / "sample_questions.jsonl"


def test_sync_status_query(docs_dir, capsys):
    (docs_dir / "empty.txt").write_text("", encoding="utf-8")
    assert main(["kb", "sync", "--knowledge", str(docs_dir)]) == 0
    out, err = capsys.readouterr()
    assert "added teapots.md" in out and "5 added" in out
    assert "skipped empty.txt: empty file" in err

    assert main(["kb", "status", "--knowledge", str(docs_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+\d+\s+熊猫\.md$", out, re.M) and "empty.txt: empty file" in out
    assert "5 documents" in out

    (docs_dir / "owls.md").write_text("Barn owls cough up pellets of vole bones.\n", encoding="utf-8")
    assert main(["kb", "query", "what do barn owls cough up", "--knowledge", str(docs_dir)]) == 0
    out, err = capsys.readouterr()
    assert "syncing first" in err  # the new file is picked up before searching
    first = out.splitlines()[0]
    assert first.startswith("1. ") and first.endswith("owls.md") and "vector" in first and "keyword" in first
    assert "gate 0.50 passed" in out


def test_query_gate_failure_and_missing_folder(docs_dir, tmp_path, capsys):
    assert main(["kb", "query", "who won the 1998 world cup", "--knowledge", str(docs_dir)]) == 0
    assert "gate 0.50 failed: answer without references" in capsys.readouterr().out
    assert main(["kb", "status", "--knowledge", str(tmp_path / "missing")]) == 2
    assert "tuichat: error: knowledge folder not found" in capsys.readouterr().err


def _table_row(out: str, name: str) -> list[float]:
    row = next(line for line in out.splitlines() if line.startswith(f"| {name} |"))
    return [float(c) for c in row.strip("|").split("|")[1:4]]


def test_eval_retrieval_hybrid_beats_vector_on_the_sample(capsys):
    assert main(["eval", "knowledge", "--questions", str(QUESTIONS), "--knowledge", str(SAMPLE), "--no-answers"]) == 0
    out = capsys.readouterr().out
    vector, hybrid = _table_row(out, "vector"), _table_row(out, "hybrid")
    assert hybrid[0] > vector[0] and hybrid[2] > vector[2]  # hit@1 and MRR: exact codes, numbers, Chinese
    assert hybrid[1] >= 0.95


def test_eval_answers_with_and_without_kb(docs_dir, tmp_path, tiny_model_dir, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"question": "What is the allotment gate code?", "source": "garden.txt", "keywords": ["4471"]},
        {"question": "How often should I lubricate the bicycle chain?", "source": "bicycles.html", "keywords": ["300"]},
    ]), encoding="utf-8")
    code = main(["eval", "knowledge", "--questions", str(questions), "--knowledge", str(docs_dir),
                 "--model", str(tiny_model_dir), "--max-new-tokens", "4"])
    assert code == 0
    out = capsys.readouterr().out
    assert re.search(r"\| without knowledge base \| \d\.\d{3} \|", out)
    assert re.search(r"\| with knowledge base \| \d\.\d{3} \|", out)
    assert "references passed the gate for 2 of 2 questions" in out


def test_question_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "q", "source": "a.md", "keywords": ["x"]}\n{oops\n', encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"q\.jsonl:2: not valid JSON"):
        load_questions(bad)
    bad.write_text('{"question": "q", "source": "a.md"}\n', encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"q\.jsonl:1: missing keywords"):
        load_questions(bad)
    bad.write_text('{"question": "q", "source": "a.md", "keywords": []}\n', encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"q\.jsonl:1: .*non-empty list"):
        load_questions(bad)
    questions = load_questions(QUESTIONS)
    assert len(questions) == 25  # the shipped file: 20 fact questions + 5 natural ones
    assert all((QUESTIONS.parent / "sample" / q.source).is_file() for q in questions)


def test_package_import_stays_light():
    code = ("import sys, tuichat.knowledge, tuichat.cli.kb_cmd; "
            "heavy = [m for m in ('llama_index', 'torch', 'transformers', 'jieba', 'sentence_transformers') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "[]"
