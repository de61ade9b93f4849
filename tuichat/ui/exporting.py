"""Write a session to a Markdown file the user can find: <data dir>/exports/<date>-<title>-<id>.md."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from tuichat import paths


def export_session(history: Any, session_id: int, title: str | None = None) -> Path:
    folder = paths.data_dir() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^\w-]+", "-", (title or "session").lower()).strip("-")[:40] or "session"
    target = folder / f"{datetime.now():%Y%m%d-%H%M}-{slug}-{session_id}.md"
    target.write_text(history.export_markdown(session_id), encoding="utf-8")
    return target
