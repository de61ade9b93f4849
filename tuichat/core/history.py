"""Chat history in SQLite: sessions, messages and events, each committed the moment it happens.

WAL mode, so the UI thread can read while a generation thread writes, and a second tuichat process
can use the same file (writers wait up to BUSY_TIMEOUT_S for each other). Every method opens its own
short transaction; nothing is buffered in memory, so a crash loses at most the last fraction of a
second of a streaming answer (which is stored as it streams and marked partial until it finishes).
Messages form a tree per session (see `tuichat.core.conversation`; schema in `history_schema`). The
file is created 0600 in a folder created 0700: chats are private.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tuichat import paths
from tuichat.core.conversation import Conversation, Turn
from tuichat.core.history_schema import ensure_schema
from tuichat.core.history_search import SearchHit, fts_query, like_patterns, parse_query, snippet
from tuichat.errors import HistoryError

BUSY_TIMEOUT_S = 10.0




@dataclass(frozen=True)
class SessionInfo:
    id: int
    title: str
    persona: str
    model: str
    created: float
    updated: float
    message_count: int


@dataclass(frozen=True)
class StoredMessage:
    id: int
    role: str
    content: str
    partial: bool
    created: float
    parent_id: int | None = None
    chosen: bool = True
    model: str = ""

    def turn(self) -> Turn:
        return Turn(self.id, self.role, self.content, self.partial, self.parent_id, self.created, self.model)


_MESSAGE_COLUMNS = "id, role, content, partial, created, parent_id, chosen, model"


def _stored(row: tuple) -> StoredMessage:
    return StoredMessage(row[0], row[1], row[2], bool(row[3]), row[4], row[5], bool(row[6]), row[7])


def _private_file(path: Path) -> None:
    """Create the folder 0700 and the file 0600 when they do not exist yet."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)


class History:
    def __init__(self, path: Path | str | None = None) -> None:
        """`path` ":memory:" keeps nothing on disk (the evaluations' sessions)."""
        self.path = Path(path) if path else paths.history_db()
        self._lock = threading.Lock()
        try:
            if str(self.path) != ":memory:":
                _private_file(self.path)
                paths.private_database(self.path)  # also tightens one an older tuichat left readable
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=BUSY_TIMEOUT_S)
            self._db.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL still never corrupts and keeps every committed row across an app crash;
            # only an OS crash or power loss can drop the last commits. FULL fsyncs each write (~10 ms).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            ensure_schema(self._db, self.path)
        except (sqlite3.Error, OSError) as exc:
            raise HistoryError(f"cannot open the chat history {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction (the connection is in autocommit mode otherwise)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write(self, sql: str, args: tuple | dict = ()) -> int:
        with self._transaction() as db:
            return db.execute(sql, args).lastrowid or 0

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- sessions ---------------------------------------------------------------------------------
    def new_session(self, persona: str, model: str, title: str | None = None) -> int:
        now = time.time()
        return self._write(
            "INSERT INTO sessions (title, persona, model, created, updated) VALUES (?, ?, ?, ?, ?)",
            (title, persona, model, now, now),
        )

    def sessions(self) -> list[SessionInfo]:
        rows = self._read(
            """SELECT s.id, COALESCE(s.title, (SELECT substr(content, 1, 60) FROM messages
                   WHERE session_id = s.id AND role = 'user' ORDER BY id LIMIT 1), 'New chat'),
                      s.persona, s.model, s.created, s.updated,
                      (SELECT COUNT(*) FROM messages WHERE session_id = s.id)
               FROM sessions s ORDER BY s.updated DESC, s.id DESC"""
        )
        return [SessionInfo(*row) for row in rows]

    def session(self, session_id: int) -> SessionInfo | None:
        return next((s for s in self.sessions() if s.id == session_id), None)

    def rename_session(self, session_id: int, title: str) -> None:
        self._write("UPDATE sessions SET title = ? WHERE id = ?", (title.strip() or None, session_id))

    def set_persona(self, session_id: int, persona: str) -> None:
        self._write("UPDATE sessions SET persona = ? WHERE id = ?", (persona, session_id))

    def delete_session(self, session_id: int) -> None:
        self._write("DELETE FROM sessions WHERE id = ?", (session_id,))

    # -- messages ---------------------------------------------------------------------------------
    def add_message(self, session_id: int, role: str, content: str, partial: bool = False,
                    parent_id: int | None = None, model: str = "", created: float | None = None) -> int:
        """Store a message after `parent_id` and make it the chosen version among its siblings."""
        now = created if created is not None else time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET chosen = 0 WHERE session_id = ? AND parent_id IS ? AND chosen = 1",
                (session_id, parent_id),
            )
            cur = db.execute(
                """INSERT INTO messages (session_id, role, content, partial, created, parent_id, chosen, model)
                   VALUES (?, ?, ?, ?, ?, ?, 1, ?)""",
                (session_id, role, content, int(partial), now, parent_id, model),
            )
            db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
            return cur.lastrowid

    def update_message(self, message_id: int, content: str, partial: bool) -> None:
        self._write("UPDATE messages SET content = ?, partial = ? WHERE id = ?", (content, int(partial), message_id))

    def choose(self, message_ids: list[int]) -> None:
        """Mark each message as the chosen version among its siblings (one transaction)."""
        with self._transaction() as db:
            for message_id in message_ids:
                db.execute(
                    """UPDATE messages SET chosen = (id = :id) WHERE session_id =
                           (SELECT session_id FROM messages WHERE id = :id)
                       AND parent_id IS (SELECT parent_id FROM messages WHERE id = :id)""",
                    {"id": message_id},
                )

    def messages(self, session_id: int) -> list[StoredMessage]:
        """Every message of the session, all versions, oldest first."""
        rows = self._read(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE session_id = ? ORDER BY id", (session_id,))
        return [_stored(r) for r in rows]

    def message(self, message_id: int) -> tuple[int, StoredMessage] | None:
        """(session id, message) for a message id, or None when there is no such message."""
        rows = self._read(f"SELECT session_id, {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        return (rows[0][0], _stored(rows[0][1:])) if rows else None

    def conversation(self, session_id: int) -> Conversation:
        stored = self.messages(session_id)
        return Conversation([m.turn() for m in stored], [m.id for m in stored if m.chosen])

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Messages of every session that hold all the words of `query`, newest first."""
        terms = parse_query(query)
        match = fts_query(terms)
        title = """COALESCE(s.title, (SELECT substr(content, 1, 60) FROM messages WHERE session_id = s.id
                                      AND role = 'user' ORDER BY id LIMIT 1), 'New chat')"""
        select = f"SELECT m.id, m.session_id, {title}, m.role, m.created, m.content FROM messages m JOIN sessions s ON s.id = m.session_id"
        if match is not None:
            sql = f"{select} WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) ORDER BY m.id DESC LIMIT ?"
            args: tuple = (match, limit)
        else:
            patterns = like_patterns(terms)
            where = " AND ".join("m.content LIKE ? ESCAPE '\\'" for _ in patterns)
            sql, args = f"{select} WHERE {where} ORDER BY m.id DESC LIMIT ?", (*patterns, limit)
        try:
            rows = self._read(sql, args)
        except sqlite3.OperationalError as exc:
            raise HistoryError(f"cannot search for {query!r}: {exc}") from None
        return [SearchHit(r[0], r[1], r[2], r[3], r[4], snippet(r[5], terms)) for r in rows]

    # -- events -----------------------------------------------------------------------------------
    def record_event(self, session_id: int, kind: str, detail: str) -> None:
        self._write(
            "INSERT INTO events (session_id, kind, detail, created) VALUES (?, ?, ?, ?)",
            (session_id, kind, detail, time.time()),
        )

    def events(self, session_id: int) -> list[tuple[str, str]]:
        return [(k, d) for k, d in self._read("SELECT kind, detail FROM events WHERE session_id = ? ORDER BY id", (session_id,))]

    # -- export -----------------------------------------------------------------------------------
    def export_markdown(self, session_id: int) -> str:
        info = self.session(session_id)
        if info is None:
            raise KeyError(session_id)
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
        lines = [f"# {info.title}", "", f"*{stamp} · persona: {info.persona} · model: {info.model}*", ""]
        for m in self.conversation(session_id).branch():
            who = {"user": "You", "assistant": "Assistant", "system": "System"}[m.role]
            lines += [f"**{who}:**" + (" *(stopped)*" if m.partial else ""), "", m.content, ""]
        return "\n".join(lines)
