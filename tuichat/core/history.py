"""Chat history in SQLite: sessions, messages and events, each committed the moment it happens.

WAL mode, so the UI thread can read while a generation thread writes. Every method opens its own short
transaction; nothing is buffered in memory, so a crash loses at most the last fraction of a second of
a streaming answer (which is stored as it streams and marked partial until it finishes).
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tuichat import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT,
    persona TEXT NOT NULL,
    model TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL,
    partial INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    created REAL NOT NULL
);
"""


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


class History:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else paths.history_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        paths.private_database(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL still never corrupts and keeps every committed row across an app crash;
        # only an OS crash or power loss can drop the last commits. FULL fsyncs each write (~10 ms).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            with self._db:  # one committed transaction per write
                cur = self._db.execute(sql, args)
            return cur.lastrowid or 0

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
    def add_message(self, session_id: int, role: str, content: str, partial: bool = False) -> int:
        now = time.time()
        with self._lock:
            with self._db:
                cur = self._db.execute(
                    "INSERT INTO messages (session_id, role, content, partial, created) VALUES (?, ?, ?, ?, ?)",
                    (session_id, role, content, int(partial), now),
                )
                self._db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
            return cur.lastrowid

    def update_message(self, message_id: int, content: str, partial: bool) -> None:
        self._write("UPDATE messages SET content = ?, partial = ? WHERE id = ?", (content, int(partial), message_id))

    def delete_message(self, message_id: int) -> None:
        self._write("DELETE FROM messages WHERE id = ?", (message_id,))

    def messages(self, session_id: int) -> list[StoredMessage]:
        rows = self._read(
            "SELECT id, role, content, partial, created FROM messages WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
        return [StoredMessage(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

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
        for m in self.messages(session_id):
            who = {"user": "You", "assistant": "Assistant", "system": "System"}[m.role]
            lines += [f"**{who}:**" + (" *(stopped)*" if m.partial else ""), "", m.content, ""]
        return "\n".join(lines)
