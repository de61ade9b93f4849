"""ChatSession over a real engine (tiny model), real personas and real SQLite history."""
import sqlite3
import threading

import pytest

from tuichat.core.session import ChatSession
from tuichat.core.config import Settings
from tuichat.runtime.transformers_backend import Engine
from tuichat.core.history import History
from tuichat.personas.library import PersonaLibrary


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine.load(str(tiny_model_dir), progress=lambda _t: None)


@pytest.fixture
def session(engine, tuichat_home):
    settings = Settings(temperature=0, repetition_penalty=1.0, max_new_tokens=12, knowledge=False)
    return ChatSession(engine, History(), PersonaLibrary(), None, settings)


def rows(session):
    db = sqlite3.connect(session.history.path)  # a second connection: sees only what is committed
    return db.execute("SELECT role, content, partial FROM messages WHERE session_id = ? ORDER BY id",
                      (session.session_id,)).fetchall()


def test_user_message_is_committed_before_generation_and_answer_after(session):
    reply = session.send("Hello there")
    assert rows(session)[-1][:2] == ("user", "Hello there"), "committed before any token is read"
    text = "".join(reply)
    assert rows(session)[-1] == ("assistant", text, 0)
    # the prompt is tokenised once, by prompt assembly, and those are exactly the engine's tokens
    assert reply.prompt.token_ids == session.engine.prompt_ids(reply.prompt.messages)
    assert reply.stats.prompt_tokens == len(reply.prompt.token_ids) == reply.prompt_tokens
    assert [t.as_message() for t in session.branch()[-2:]] == [
        {"role": "user", "content": "Hello there"}, {"role": "assistant", "content": text}]
    # the assistant message is appended exactly once
    assert sum(1 for r in rows(session) if r[0] == "assistant" and r[1] == text) == 1


def test_cancelled_answer_is_kept_marked_partial(session):
    session.settings.max_new_tokens = 200
    cancel = threading.Event()
    reply = session.send("Tell me a long story", cancel)
    for i, _ in enumerate(reply):
        if i == 1:
            cancel.set()
    assert reply.stats.finish_reason == "cancelled"
    role, content, partial = rows(session)[-1]
    assert role == "assistant" and partial == 1 and content == reply.text


def test_consumer_abandoning_the_stream_still_finalises_history(session):
    session.settings.max_new_tokens = 200
    reply = session.send("Go on")
    it = iter(reply)
    next(it)
    it.close()  # what happens on Ctrl+C in the REPL
    assert rows(session)[-1][2] == 1


def test_regenerate_adds_a_version_of_the_last_answer(session):
    first = session.send("First question").wait()
    before = len(rows(session))
    reply = session.regenerate().wait()
    after = rows(session)
    assert len(after) == before + 1, "the earlier answer is kept"
    assert after[-1][:2] == ("assistant", reply.text) and after[-2][:2] == ("assistant", first.text)
    assert reply.prompt.messages == first.prompt.messages, "the same question, asked from the same place"


def test_new_session_starts_fresh_with_the_persona_greeting(session):
    session.send("hello").wait()
    old = session.session_id
    session.new_session()
    assert session.session_id != old
    greeting = session.persona.greeting
    assert [t.as_message() for t in session.branch()] == ([{"role": "assistant", "content": greeting}] if greeting else [])


def test_persona_switch_changes_the_next_system_message_and_is_recorded(session):
    session.set_persona("catgirl-en")
    reply = session.send("hi").wait()
    assert reply.prompt.messages[0]["role"] == "system"
    assert reply.prompt.messages[0]["content"] == session.personas.get("catgirl-en").system_prompt
    assert ("persona", "catgirl-en") in session.history.events(session.session_id)


def test_resume_restores_turns(session):
    session.send("remember me").wait()
    sid, turns = session.session_id, session.branch()
    session.new_session()
    session.resume(sid)
    assert session.branch() == turns


def test_knowledge_references_enter_the_prompt_only_past_the_gate(engine, tmp_path):
    from tuichat.knowledge import KnowledgeBase

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "grader.md").write_text("# Grader codes\n\nResult code PL-E303 means the solution called os.system, "
                                    "which the Primer Lab grader forbids.\n", encoding="utf-8")
    kb = KnowledgeBase(docs, index_dir=tmp_path / "index")
    kb.sync()
    settings = Settings(temperature=0, repetition_penalty=1.0, max_new_tokens=4)
    session = ChatSession(engine, History(), PersonaLibrary(), kb, settings)
    reply = session.send("What does grader result code PL-E303 mean?").wait()
    assert reply.retrieval.passed_gate and reply.sources == ["grader.md"]
    assert "os.system" in reply.prompt.messages[-1]["content"]
    off_topic = session.send("Tell me a joke about penguins").wait()
    assert not off_topic.retrieval.passed_gate and off_topic.sources == []
    assert off_topic.prompt.messages[-1]["content"] == "Tell me a joke about penguins"
