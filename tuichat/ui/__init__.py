"""The full-screen Textual app. Importing this package is light: Textual loads in `run_app`."""
from __future__ import annotations

from typing import Any, Callable


def run_app(load_session: Callable[[Callable[[str], None]], Any], settings: Any) -> int:
    """Run the app until the user quits; the model loads inside it via `load_session(progress)`."""
    from tuichat.ui.app import make_app

    app = make_app(load_session, settings)
    app.run()
    return app.return_code or 0
