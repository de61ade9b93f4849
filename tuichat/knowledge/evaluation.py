"""`tuichat eval knowledge`: retrieval quality (hit@1, hit@k, MRR) for vector-only vs hybrid search, and
answer keyword recall with vs without the knowledge base.

Question file: JSON Lines, one object per line with `question`, `source` (the file, relative to the
knowledge folder, that holds the answer) and `keywords` (strings the answer should contain).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tuichat.errors import KnowledgeError


@dataclass(frozen=True)
class Question:
    question: str
    source: str
    keywords: list[str]


@dataclass
class RetrievalScores:
    mode: str
    ranks: list[int | None] = field(default_factory=list)  # 1-based rank of the first right passage
    passed: list[bool] = field(default_factory=list)  # whether the gate let references into the prompt

    @property
    def hit_at_1(self) -> float:
        return sum(r == 1 for r in self.ranks) / len(self.ranks) if self.ranks else 0.0

    @property
    def hit_at_k(self) -> float:
        return sum(r is not None for r in self.ranks) / len(self.ranks) if self.ranks else 0.0

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r) / len(self.ranks) if self.ranks else 0.0


@dataclass
class AnswerScores:
    label: str
    recalls: list[float] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return sum(self.recalls) / len(self.recalls) if self.recalls else 0.0


def load_questions(path: Path) -> list[Question]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise KnowledgeError(f"question file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"cannot read question file {path}: {exc}") from None
    questions = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise KnowledgeError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise KnowledgeError(f"{path}:{n}: expected an object with question, source, keywords")
        missing = [k for k in ("question", "source", "keywords") if k not in row]
        if missing:
            raise KnowledgeError(f"{path}:{n}: missing {', '.join(missing)}")
        kws = row["keywords"]
        if not (isinstance(row["question"], str) and row["question"].strip() and isinstance(row["source"], str)
                and isinstance(kws, list) and kws and all(isinstance(k, str) and k for k in kws)):
            raise KnowledgeError(f"{path}:{n}: question and source must be text, keywords a non-empty list of text")
        questions.append(Question(row["question"], row["source"], kws))
    if not questions:
        raise KnowledgeError(f"{path}: no questions in the file")
    return questions


def same_source(found: str, expected: str) -> bool:
    """Expected sources may be written relative to a subfolder (`sample/x.md` matches `x.md`)."""
    return found == expected or found.endswith("/" + expected) or expected.endswith("/" + found)


def score_retrieval(kb, questions: list[Question], mode: str) -> RetrievalScores:
    scores = RetrievalScores(mode)
    for q in questions:
        retrieval = kb.retrieve(q.question, mode=mode)
        hits = retrieval.hits
        scores.passed.append(retrieval.passed_gate)
        scores.ranks.append(next((i for i, h in enumerate(hits, 1) if same_source(h.source, q.source)), None))
    return scores


def keyword_recall(answer: str, keywords: list[str]) -> float:
    low = answer.lower()
    return sum(k.lower() in low for k in keywords) / len(keywords)


def score_answers(answer: Callable[[str, bool], str], questions: list[Question],
                  progress=None) -> tuple[AnswerScores, AnswerScores]:
    """Answer every question twice, bare and with the gated references: `answer(question,
    with_knowledge)` is a chat session's `answer_alone`, so the prompt is the one a chat sends."""
    bare, grounded = AnswerScores("without knowledge base"), AnswerScores("with knowledge base")
    for i, q in enumerate(questions, 1):
        for scores, with_kb in ((bare, False), (grounded, True)):
            text = answer(q.question, with_kb)
            scores.answers.append(text)
            scores.recalls.append(keyword_recall(text, q.keywords))
        if progress:
            progress(i, len(questions))
    return bare, grounded


def retrieval_table(results: list[RetrievalScores], k: int, n: int) -> str:
    rows = [f"| retrieval ({n} questions) | hit@1 | hit@{k} | MRR | passed gate |", "|---|---:|---:|---:|---:|"]
    rows += [f"| {r.mode} | {r.hit_at_1:.3f} | {r.hit_at_k:.3f} | {r.mrr:.3f} | {sum(r.passed)}/{n} |" for r in results]
    return "\n".join(rows)


def answer_table(results: list[AnswerScores], gate_passed: int, n: int) -> str:
    rows = ["| answers | keyword recall |", "|---|---:|"]
    rows += [f"| {r.label} | {r.recall:.3f} |" for r in results]
    rows.append(f"\nreferences passed the gate for {gate_passed} of {n} questions")
    return "\n".join(rows)
