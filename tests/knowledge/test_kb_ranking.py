"""Ranking and gating of natural questions: the fused score, question filler, title words, and the
real index over the repository's knowledge/sample primer."""
from __future__ import annotations

from pathlib import Path

import pytest

from tuichat.knowledge.index import fused_score
from tuichat.knowledge.keywords import title_terms, tokens

SAMPLE = Path(__file__).resolve().parents[2] / "knowledge" / "sample"
OFF_TOPIC = ["tell me a joke", "今天天气怎么样？", "Who won the football world cup in 1998?",
             "What's the weather like today? Answer briefly."]


def test_question_filler_is_not_a_search_term():
    assert tokens("What is a Python list? Answer briefly.") == ["python", "list"]
    assert tokens("Lists") == tokens("list")  # stemmed on both sides


def test_title_terms_come_from_the_file_name_and_markdown_headings():
    assert title_terms("sample/02-lists.md", "# Lists\n\nA list is ordered.") == {"list"}
    assert title_terms("notes/primer-lab_grader.codes.txt", "text\n## Exit codes\n") == {
        "primer", "lab", "grader", "code", "exit"}
    assert title_terms("熊猫.md", "大熊猫吃竹子。") == {"熊猫"}


@pytest.mark.parametrize("vector", [-0.2, 0.0, 0.3, 0.48, 0.9, 1.0])
@pytest.mark.parametrize("keyword", [0.0, 0.13, 0.7, 1.0])
def test_keyword_evidence_only_adds_and_scores_stay_in_0_1(vector, keyword):
    english = fused_score(vector, keyword, 0.0, cjk=0.0)
    assert max(vector, 0.0) <= english <= 1.0  # a weak keyword side never pulls a good match down
    assert english <= fused_score(vector, keyword, 0.5, cjk=0.0) <= 1.0
    assert 0.0 <= fused_score(vector, keyword, 1.0, cjk=1.0) <= 1.0


def test_exact_terms_still_lift_a_weak_vector_match_over_the_gate():
    assert fused_score(0.3, 0.0, 0.0, cjk=0.0) < 0.5 <= fused_score(0.3, 0.9, 0.0, cjk=0.0)
    # Chinese: the English embedder's similarity counts for nothing, the keywords for everything.
    assert fused_score(0.6, 0.0, 0.0, cjk=1.0) == 0.0
    assert fused_score(0.0, 0.8, 0.0, cjk=1.0) == pytest.approx(0.8)


@pytest.fixture(scope="module")
def sample_kb(tmp_path_factory):
    if not SAMPLE.is_dir():
        pytest.skip("knowledge/sample is not in this checkout")
    from tuichat.knowledge import KnowledgeBase

    kb = KnowledgeBase(SAMPLE, index_dir=tmp_path_factory.mktemp("sample-index"))
    kb.sync()
    return kb


def test_natural_question_ranks_its_document_first_and_passes_the_gate(sample_kb):
    retrieval = sample_kb.retrieve("What is a Python list? Answer briefly.")
    assert retrieval.hits[0].source == "02-lists.md"
    assert retrieval.passed_gate
    # 05-functions.md mentions both "Python" and "list" and the embedder ranks it a hair higher;
    # the title "Lists" is what must decide.
    assert retrieval.hits[0].title_score > 0 and retrieval.hits[0].score > retrieval.hits[1].score


def test_hybrid_score_is_never_below_the_vector_score_for_english(sample_kb):
    for hit in sample_kb.retrieve("How do I define a function?").hits:
        assert hit.score >= hit.vector_score


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_stay_below_the_gate(sample_kb, question):
    retrieval = sample_kb.retrieve(question)
    assert retrieval.hits and not retrieval.passed_gate and retrieval.references == []
