"""Where tuichat keeps its files.

platformdirs locations by default; one environment variable, TUICHAT_HOME, redirects config, data
and cache under a single folder (tests always set it, so they never touch the user's own files).

Private by default: the folders tuichat makes for itself are 0700 and its history and index files
0600 whatever the umask; folders and files that already exist are tightened when they are opened.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "tuichat"
HOME_ENV = "TUICHAT_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private(path: Path, mode: int) -> None:
    """Drop group/other permissions from `path` (best effort: another owner's file is left alone)."""
    try:
        current = path.stat().st_mode & 0o777
        if current & ~mode:
            os.chmod(path, current & mode)
    except OSError:
        pass


def make_private_tree(folder: Path) -> None:
    """`folder` and every folder below it 0700, every file in it 0600 at most."""
    make_private(folder, PRIVATE_DIR)
    for path in folder.rglob("*"):
        if not path.is_symlink():
            make_private(path, PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)


def private_file(path: Path) -> Path:
    """Create `path` empty with 0600 if missing, else tighten it to 0600; return it."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
    except OSError:
        pass  # unwritable: the caller's own open reports it
    make_private(path, PRIVATE_FILE)
    return path


def private_database(path: Path) -> Path:
    """An SQLite file and its -wal/-shm companions private (SQLite gives new companions the file's mode)."""
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        make_private(path.with_name(path.name + suffix), PRIVATE_FILE)
    return path


def _ensure(path: Path) -> Path:
    home = _home()
    if home is not None and not home.exists():
        home.mkdir(parents=True, mode=PRIVATE_DIR, exist_ok=True)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    make_private(path, PRIVATE_DIR)
    return path


def config_dir() -> Path:
    home = _home()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP)))


def data_dir() -> Path:
    home = _home()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP)))


def cache_dir() -> Path:
    home = _home()
    return _ensure(home / "cache" if home else Path(platformdirs.user_cache_dir(APP)))


def config_file() -> Path:
    return config_dir() / "config.toml"


def history_db() -> Path:
    return data_dir() / "history.sqlite3"


def models_cache() -> Path:
    """Converted models. TUICHAT_MODEL_CACHE shares them between homes (tests convert only once)."""
    shared = os.environ.get("TUICHAT_MODEL_CACHE")
    return _ensure(Path(shared).expanduser() if shared else cache_dir() / "models")


def user_personas_dir() -> Path:
    return _ensure(config_dir() / "personas")


def project_root() -> Path:
    """The checkout (or install prefix) that holds the bundled personas/ and knowledge/ folders."""
    return Path(__file__).resolve().parent.parent


def bundled_personas_dir() -> Path:
    return project_root() / "personas"


def default_knowledge_dir() -> Path:
    """`knowledge/` next to where tuichat runs when present, otherwise one in the user data dir."""
    local = Path.cwd() / "knowledge"
    if local.is_dir():
        return local
    return _ensure(data_dir() / "knowledge")


def knowledge_index_dir() -> Path:
    return _ensure(data_dir() / "index")
