"""Pure pieces of the UI, tested without a terminal: the workers' messages, code-block picking,
key remaps, and the text of the knowledge panel, session list and persona picker."""
from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tuichat.errors import ConfigError, TuichatError
from tuichat.knowledge import DocInfo, Hit, KBStatus, Retrieval, Skipped
from tuichat.ui import keys, workers
from tuichat.ui.clipboard import code_blocks, pick_code_block
from tuichat.ui.messages import AnswerFailed, AnswerFinished, AnswerStarted, TokenStreamed
from tuichat.ui.screens.persona_picker import matches_filter
from tuichat.ui.widgets.knowledge.panel import documents_text, retrieval_text
from tuichat.ui.widgets.sessions.session_list import session_label


def test_stream_answer_posts_started_growing_text_then_finished(make_session):
    session = make_session(max_new_tokens=40)
    posted: list = []
    question = session.add_user_message("Hello")
    workers.stream_answer(session, 7, question.id, threading.Event(), posted.append)
    assert isinstance(posted[0], AnswerStarted) and posted[0].answer_no == 7
    finished = posted[-1]
    assert isinstance(finished, AnswerFinished) and finished.text == session.last_reply.text
    assert finished.message_id == session.branch()[-1].id and session.branch()[-2] == question
    assert finished.stats.new_tokens > 0 and finished.prompt_tokens == session.last_reply.prompt_tokens
    streamed = [m.text for m in posted if isinstance(m, TokenStreamed)]
    assert streamed and all(finished.text.startswith(text) for text in streamed)


def test_stream_answer_turns_an_error_into_answer_failed(make_session):
    session = make_session(max_new_tokens=0)
    posted: list = []
    workers.stream_answer(session, 1, session.add_user_message("Hello").id, threading.Event(), posted.append)
    assert len(posted) == 1 and isinstance(posted[0], AnswerFailed)
    assert "max_new_tokens" in posted[0].error


def test_token_streamed_messages_only_collapse_within_one_answer():
    assert TokenStreamed(1, "ab").can_replace(TokenStreamed(1, "abc"))
    assert not TokenStreamed(1, "ab").can_replace(TokenStreamed(2, "x"))
    assert not TokenStreamed(1, "ab").can_replace(AnswerFailed(1, "boom"))


def test_describe_keeps_our_messages_and_names_foreign_errors():
    assert workers.describe(TuichatError("fix the thing")) == "fix the thing"
    assert workers.describe(RuntimeError("CUDA out of memory")) == "RuntimeError: CUDA out of memory"


def test_code_blocks_and_cycling_through_them():
    text = "x\n```python\na = 1\n```\n~~~\nplain\n~~~\n```sh\necho unfinished"
    assert code_blocks(text) == [("python", "a = 1"), ("", "plain"), ("sh", "echo unfinished")]
    assert pick_code_block(text, 0) == (3, 3, "sh", "echo unfinished")
    assert pick_code_block(text, 1)[3] == "plain"
    assert pick_code_block(text, 3)[3] == "echo unfinished"
    assert pick_code_block("no code here", 0) is None


def test_keymap_rejects_unknown_actions_and_empty_keys():
    assert keys.keymap({"regenerate": "f5"}) == {"regenerate": "f5"}
    with pytest.raises(ConfigError, match="unknown action 'regen'"):
        keys.keymap({"regen": "f5"})
    with pytest.raises(ConfigError, match="stop"):
        keys.keymap({"stop": " "})
    assert any(line.startswith("f5") and "again" in line for line in keys.key_help_lines({"regenerate": "f5"}))


def test_default_keys_do_not_clash():
    bound = [a.key for a in keys.ACTIONS] + [keys.QUIT.key, *keys.NEWLINE_KEYS]
    assert len(bound) == len(set(bound))
    assert not set(bound) & {"ctrl+c", "ctrl+p", "ctrl+z", "ctrl+s", "enter", "tab"}


def test_documents_text_lists_documents_and_skipped_files_with_reasons():
    status = KBStatus(Path("/kb"), [DocInfo("a.md", 3)], [Skipped("scan.pdf", "PDF has no text layer")])
    text = documents_text(status, True).plain
    assert "a.md" in text and "3 chunks" in text and "scan.pdf" in text and "PDF has no text layer" in text
    assert "empty" in documents_text(KBStatus(Path("/kb"), [], []), True).plain
    assert "off" in documents_text(None, False).plain


def test_retrieval_text_marks_hits_below_the_gate():
    hits = [Hit("a.md", "alpha " * 100, 0.4, 0.4, 0.0)]
    text = retrieval_text(Retrieval("q", hits, gate=0.5, passed_gate=False), True).plain
    assert "not used" in text and "0.40" in text and "a.md" in text and "…" in text


def test_session_label_shows_title_persona_and_count():
    info = SimpleNamespace(id=1, title="", persona="catgirl", created=0.0, updated=1_700_000_000.0, message_count=4)
    label = session_label(info, current=True).plain
    assert label.startswith("● (untitled)") and "catgirl" in label and "4 messages" in label


def test_persona_filter_matches_every_word_anywhere():
    persona = SimpleNamespace(name="catgirl-en", title="Catgirl", description="A playful assistant",
                              language="en", keywords=("nya", "master"))
    assert matches_filter(persona, "cat play")
    assert matches_filter(persona, "NYA")
    assert not matches_filter(persona, "cat pirate")
