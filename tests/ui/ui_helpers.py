"""Helpers for the UI tests: wait for the app to reach a state while worker threads post to it."""
from __future__ import annotations

import time
from typing import Any, Callable


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until `condition()` holds (worker threads post messages meanwhile)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


async def loaded(pilot) -> Any:
    """The chat screen once its session has loaded."""
    from tuichat.ui.screens.chat import ChatScreen

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChatScreen) and pilot.app.screen.session is not None,
                   what="the session to load")
    return pilot.app.screen


async def idle(pilot, screen) -> None:
    await wait_for(pilot, lambda: not screen.answering, what="the answer to finish")
    await pilot.pause()
