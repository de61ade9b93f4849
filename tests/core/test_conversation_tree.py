"""The conversation tree owned by ChatSession and stored by History: versions, branches, resume.
Session logic only, so it runs on FakeRuntime; every check reads SQLite through a second connection."""
import sqlite3
import threading

import pytest

from tuichat.core.conversation import Conversation, Turn
from tuichat.core.history import History
from tuichat.errors import HistoryError, TuichatError


def rows(session, session_id=None):
    """The session's stored messages after the persona's greeting (a second connection)."""
    db = sqlite3.connect(session.history.path)
    found = db.execute("SELECT id, role, content, partial, parent_id, chosen FROM messages WHERE session_id = ? "
                       "ORDER BY id", (session_id or session.session_id,)).fetchall()
    return [r for r in found if not (r[1] == "assistant" and r[4] is None)]


def test_regenerate_after_switching_sessions_leaves_the_other_session_alone(fake_session):
    # Today's bug: resume() kept last_answer_id from session B, so ctrl+r in A deleted B's answer.
    s = fake_session(persona="assistant")
    s.send("question in A").wait()
    a = s.session_id
    s.new_session()
    s.send("question in B").wait()
    b, b_rows = s.session_id, rows(s)
    s.resume(a)
    s.regenerate().wait()
    assert rows(s, b) == b_rows, "session B is untouched"
    user = next(t for t in s.branch() if t.role == "user")
    answers = s.versions(s.branch()[-1].id)
    assert [t.parent_id for t in answers] == [user.id, user.id] and len(answers) == 2
    assert s.branch()[-1].id == answers[-1].id, "the new answer is the one on screen"
    assert [r[2] for r in rows(s, a) if r[1] == "user"] == ["question in A"], "no duplicate question"


def test_a_stopped_answer_comes_back_partial_after_resume(fake_session):
    s = fake_session(answers=["one two three four five six seven eight"])
    s.engine.delay_s = 0.02
    cancel = threading.Event()
    reply = s.send("tell me", cancel)
    for i, _ in enumerate(reply):
        if i == 1:
            cancel.set()
    assert reply.stats.finish_reason == "cancelled"
    sid = s.session_id
    s.new_session()
    s.resume(sid)
    last = s.branch()[-1]
    assert last.role == "assistant" and last.partial and last.content == reply.text


def test_regenerate_twice_keeps_every_answer_and_flips_between_them(fake_session):
    s = fake_session(answers=["first", "second", "third"])
    s.send("hello").wait()
    s.regenerate().wait()
    s.regenerate().wait()
    answers = s.versions(s.branch()[-1].id)
    assert [t.content for t in answers] == ["first", "second", "third"]
    assert len([r for r in rows(s) if r[1] == "assistant"]) == 3, "nothing deleted"
    shown = s.flip(answers[-1].id, -1)
    assert shown.content == "second" and s.branch()[-1].content == "second"
    assert [r[5] for r in rows(s) if r[1] == "assistant"] == [0, 1, 0], "the choice is stored"
    assert s.flip(answers[0].id, -1).content == "first", "flipping stops at the oldest"
    s.flip(answers[0].id, 1)
    sid = s.session_id
    s.new_session()
    s.resume(sid)
    assert s.branch()[-1].content == "second", "resume shows the version that was on screen"


def test_edit_branches_and_the_prompt_follows_the_branch_on_screen(fake_session):
    s = fake_session(answers=["A1", "A2", "B2", "C"])
    first = s.add_user_message("my name is Ann")
    s.answer(first.id).wait()
    s.send("what is my name?").wait()
    edited = s.edit(first.id, "my name is Bob")
    s.answer(edited.id).wait()
    assert [t.content for t in s.branch()][1:] == ["my name is Bob", "B2"]
    assert [t.content for t in s.versions(edited.id)] == ["my name is Ann", "my name is Bob"]
    # the old branch is kept whole
    assert [r[2] for r in rows(s)] == ["my name is Ann", "A1", "what is my name?", "A2", "my name is Bob", "B2"]
    s.send("again?").wait()
    assert "Ann" not in str(s.engine.prompts[-1]) and "Bob" in str(s.engine.prompts[-1])
    s.flip(edited.id, -1)  # back to the first branch: its whole tail comes back
    assert [t.content for t in s.branch()][1:] == ["my name is Ann", "A1", "what is my name?", "A2"]
    s.send("and now?").wait()
    prompt = str(s.engine.prompts[-1])
    assert "Ann" in prompt and "Bob" not in prompt and "what is my name?" in prompt


def test_only_user_messages_can_be_edited_and_nothing_changes_otherwise(fake_session):
    s = fake_session()
    s.send("hi").wait()
    before = rows(s)
    with pytest.raises(TuichatError, match="only your own messages"):
        s.edit(s.branch()[-1].id, "rewritten answer")
    assert rows(s) == before


def test_add_answer_stores_a_sibling_answer_with_its_model(fake_session):
    s = fake_session(answers=["from the base"])
    user = s.add_user_message("compare us")
    s.answer(user.id).wait()
    other = s.add_answer(user.id, "from the adapter", model="fake-model+lora-a")
    assert [(t.content, t.model) for t in s.versions(other.id)] == [
        ("from the base", "fake-model"), ("from the adapter", "fake-model+lora-a")]
    assert History(s.history.path).conversation(s.session_id).leaf().content == "from the adapter"


def test_answer_alone_stores_nothing_and_sees_no_earlier_turns(fake_session):
    s = fake_session()
    s.send("earlier question").wait()
    before = rows(s)
    reply = s.answer_alone("standalone").wait()
    assert rows(s) == before and reply.message_id is None
    assert [m["content"] for m in reply.prompt.messages if m["role"] != "system"] == ["standalone"]


def test_open_at_a_message_id_that_no_longer_exists_is_one_clear_line(fake_session):
    s = fake_session()
    s.send("hi").wait()
    with pytest.raises(HistoryError, match="no message 999"):
        s.open_at(999)
    with pytest.raises(HistoryError, match="no session 999"):
        s.resume(999)


def test_resuming_a_session_whose_persona_file_is_gone_says_so(fake_session):
    from tuichat import paths

    (paths.user_personas_dir() / "gone.md").write_text("---\nname: gone\n---\nYou are gone soon.\n", encoding="utf-8")
    s = fake_session(persona="gone")
    s.send("hello").wait()
    sid = s.session_id
    s.set_persona("assistant")
    s.history.set_persona(sid, "gone")
    (paths.user_personas_dir() / "gone.md").unlink()
    notices = s.resume(sid)
    assert notices == ["This session's persona 'gone' is gone; answering as 'assistant'."]
    assert [t.content for t in s.branch() if t.role == "user"] == ["hello"]


def test_conversation_refuses_a_turn_whose_parent_is_unknown():
    c = Conversation([Turn(1, "user", "a")])
    with pytest.raises(KeyError):
        c.add(Turn(3, "assistant", "b", parent_id=2))
    assert [t.id for t in c.branch()] == [1]


def test_context_breakdown_counts_persona_and_the_turns_kept_and_left_out(fake_session):
    s = fake_session(answers=[" ".join(["word"] * 30)] * 6, context_budget=150)
    for i in range(6):
        s.send(f"question {i}").wait()
    parts = s.context_breakdown()
    assert parts.turns_dropped > 0 and parts.turns_kept + parts.turns_dropped == 7  # the greeting is a turn
    assert parts.total_tokens == s.next_prompt().token_count <= 150
    assert parts.persona_tokens + parts.history_tokens == parts.total_tokens
    assert parts.lines()[1].startswith(f"History: {parts.turns_kept} turn(s) kept")
