"""Private by default (umask 022 as on most systems): folders 0700, history and index files 0600,
and files made by an older tuichat tightened when opened."""
from __future__ import annotations

import os
import stat

import pytest

from tuichat import paths
from tuichat.core.history import History


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_folders_and_history_are_private(tuichat_home):
    for folder in (paths.config_dir(), paths.data_dir(), paths.cache_dir(), paths.user_personas_dir()):
        assert mode(folder) == 0o700, folder
    assert mode(tuichat_home) == 0o700
    history = History()
    session = history.new_session("assistant", "m")
    history.add_message(session, "user", "secret")
    for path in paths.data_dir().glob("history.sqlite3*"):
        assert mode(path) == 0o600, path


def test_existing_files_are_tightened_on_open(tuichat_home):
    data = tuichat_home / "data"
    data.mkdir(parents=True)
    os.chmod(data, 0o755)
    History().close()
    db = data / "history.sqlite3"
    os.chmod(db, 0o644)
    History().close()
    assert mode(db) == 0o600 and mode(paths.data_dir()) == 0o700


def test_index_files_are_private_and_tightened(tuichat_home, tmp_path):
    from tuichat.knowledge import KnowledgeBase

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Owls\n\nBarn owls cough up pellets.\n", encoding="utf-8")
    kb = KnowledgeBase(folder)
    kb.sync()
    files = [p for p in kb.index_dir.rglob("*")]
    assert files and all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in files), \
        {str(p): oct(mode(p)) for p in files}
    assert mode(kb.index_dir) == 0o700
    loose = next(p for p in files if p.is_file())
    os.chmod(loose, 0o644)
    KnowledgeBase(folder)  # opening it again tightens what an older version left readable
    assert mode(loose) == 0o600
