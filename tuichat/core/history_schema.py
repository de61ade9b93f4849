"""The history database's schema and its forward migrations.

Version 1 (`PRAGMA user_version = 1`) stores each session's conversation as a tree: a message's
`parent_id` is the message it follows, `chosen` marks the version on screen among siblings, and
`model` names the model that wrote an answer. `messages_fts` is a full-text index over messages.

A database written before version 1 holds linear sessions. `migrate` first copies it to
`<name>.bak-v0` next to it (SQLite's backup API, so the copy is consistent even mid-WAL), then, in one
transaction, adds the columns, links every message to the one before it in its session and builds
the index; it checks that no row was lost before committing.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from tuichat.errors import HistoryError

VERSION = 1

TABLES = """
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
    created REAL NOT NULL,
    parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    chosen INTEGER NOT NULL DEFAULT 1,
    model TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    created REAL NOT NULL
);
"""

# Indexes and the full-text index: created by a fresh database and by the migration alike.
EXTRAS = """
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
CREATE INDEX IF NOT EXISTS messages_by_parent ON messages(parent_id);
-- trigram: substring search that also works for Chinese (no word boundaries needed)
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, content='messages', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
"""


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _count(db: sqlite3.Connection, table: str) -> int:
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def ensure_schema(db: sqlite3.Connection, path: Path) -> None:
    """Create the schema, or bring an older database up to VERSION. `db` is in autocommit mode."""
    db.execute("BEGIN IMMEDIATE")  # one process at a time decides; a second one waits, then sees v1
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > VERSION:
            raise HistoryError(f"{path} was written by a newer tuichat (schema {version}); upgrade tuichat to open it")
        old = version < VERSION and "messages" in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if old and "parent_id" not in _columns(db, "messages"):
            db.execute("ROLLBACK")
            _backup(db, path)
            db.execute("BEGIN IMMEDIATE")
            _migrate_v0(db)
        for statement in _statements(TABLES + EXTRAS):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit the open transaction)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out


def _backup(db: sqlite3.Connection, path: Path) -> Path:
    target = path.with_name(path.name + ".bak-v0")
    if not target.exists():
        copy = sqlite3.connect(target)
        try:
            db.backup(copy)
        finally:
            copy.close()
        target.chmod(0o600)
    return target


def _migrate_v0(db: sqlite3.Connection) -> None:
    before = {t: _count(db, t) for t in ("sessions", "messages", "events")}
    db.execute("ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE")
    db.execute("ALTER TABLE messages ADD COLUMN chosen INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT ''")
    # Sessions were linear: each message follows the one before it in its session.
    db.execute(
        """UPDATE messages SET parent_id = (SELECT MAX(m.id) FROM messages m
               WHERE m.session_id = messages.session_id AND m.id < messages.id)"""
    )
    for statement in _statements(EXTRAS):
        db.execute(statement)
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    after = {t: _count(db, t) for t in before}
    if after != before:  # cannot happen with the statements above; refuse rather than lose rows
        raise HistoryError(f"migrating the history lost rows ({before} → {after}); the database was left unchanged")
