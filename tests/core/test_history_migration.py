"""History on disk: a database written by the previous release is migrated forward (backup first, no
row lost), files are private, and two processes can use one history at once."""
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from tuichat.core.history import History

V0_SCHEMA = (Path(__file__).parent / "data" / "history_v0_schema.sql").read_text(encoding="utf-8")


def make_v0_database(path: Path) -> None:
    """Two linear sessions exactly as the previous release wrote them (its schema SQL, its inserts)."""
    db = sqlite3.connect(path)
    db.executescript(V0_SCHEMA)
    db.execute("PRAGMA journal_mode=WAL")
    for sid, (persona, texts) in enumerate([("assistant", ["Hi!", "hello", "Hello back", "how are you?", "fine"]),
                                            ("catgirl", ["喵？", "你好", "喵喵"])], start=1):
        db.execute("INSERT INTO sessions (title, persona, model, created, updated) VALUES (NULL, ?, 'm', 1, 1)", (persona,))
        for i, text in enumerate(texts):
            role = "assistant" if i % 2 == 0 else "user"
            db.execute("INSERT INTO messages (session_id, role, content, partial, created) VALUES (?, ?, ?, ?, ?)",
                       (sid, role, text, int(text == "fine"), 2 + i))
    db.execute("INSERT INTO events (session_id, kind, detail, created) VALUES (2, 'persona', 'catgirl', 3)")
    db.commit()
    db.close()


def test_a_database_from_the_previous_release_is_migrated_with_a_backup_and_no_row_lost(tmp_path):
    path = tmp_path / "history.sqlite3"
    make_v0_database(path)
    old = sqlite3.connect(path).execute("SELECT id, session_id, role, content, partial FROM messages ORDER BY id").fetchall()
    h = History(path)
    backup = path.with_name(path.name + ".bak-v0")
    assert sqlite3.connect(backup).execute("SELECT id, session_id, role, content, partial FROM messages ORDER BY id").fetchall() == old
    new = sqlite3.connect(path).execute("SELECT id, session_id, role, content, partial, parent_id, chosen FROM messages ORDER BY id").fetchall()
    assert [r[:5] for r in new] == old, "every row kept as it was"
    assert [r[5] for r in new] == [None, 1, 2, 3, 4, None, 6, 7], "each message follows the one before it"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    # the migrated sessions read back as conversations, partial flag included
    branch = h.conversation(1).branch()
    assert [t.content for t in branch] == ["Hi!", "hello", "Hello back", "how are you?", "fine"] and branch[-1].partial
    assert h.events(2) == [("persona", "catgirl")]
    assert [hit.session_id for hit in h.search("喵喵")] == [2], "old messages are in the search index"
    # opening again changes nothing and keeps the first backup
    History(path)
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 8


def test_history_files_are_private(tmp_path):
    path = tmp_path / "private" / "history.sqlite3"
    History(path)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


WRITER = """
import sys
from tuichat.core.history import History
h = History(sys.argv[1])
sid = h.new_session("assistant", "other-process")
for i in range(50):
    h.add_message(sid, "user", f"from the second process {i}")
print(sid)
"""


def test_two_processes_write_one_history_at_once(tmp_path):
    path = tmp_path / "history.sqlite3"
    h = History(path)
    sid = h.new_session("assistant", "this-process")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    for i in range(50):
        h.add_message(sid, "user", f"from the first process {i}")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    other = int(out.strip())
    assert len(h.messages(sid)) == 50 and len(h.messages(other)) == 50
