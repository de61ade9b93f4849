"""Where tuichat keeps its files.

platformdirs locations by default; one environment variable, TUICHAT_HOME, redirects config, data
and cache under a single folder (tests always set it, so they never touch the user's own files).
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


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)  # private: chats, configs, indexes
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
