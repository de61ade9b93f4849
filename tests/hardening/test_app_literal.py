"""The full-screen app shows untrusted text literally: a hostile persona (title, greeting), document
names and passages in the knowledge panel, the model's streamed answer (escapes split across deltas),
a session title in the sessions list and a notification. `[@click=app.quit]` and `[b]` appear as
typed, and control codes appear as visible stand-ins, never as codes in what is drawn."""
from __future__ import annotations

import html
import re
import time

from tuichat.core.config import Settings

from payloads import MARKUP, TITLE


async def wait_for(pilot, condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def drawn(app) -> str:
    """The text of what is on screen now, from Textual's own screenshot of it."""
    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r">([^<>]*)</text>", svg))).replace("\xa0", " ")


def assert_literal(text: str, *needles: str) -> None:
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    for needle in needles:
        assert needle in text, f"{needle!r} not drawn literally"


async def test_untrusted_text_is_drawn_literally(tiny_model_dir, hostile_personas, hostile_kb, hostile_model,
                                                 tuichat_home):
    from tuichat.bootstrap import open_session
    from tuichat.ui.app import make_app
    from tuichat.ui.screens.sessions import SessionsScreen
    from tuichat.ui.widgets.input import PromptInput
    from tuichat.ui.widgets.knowledge import KnowledgePanel
    from tuichat.ui.screens.chat import ChatScreen

    settings = Settings(model=str(tiny_model_dir), persona="hostile", knowledge_dir=str(hostile_kb), gate=-1.0,
                        max_new_tokens=4)
    session = open_session(settings, [hostile_personas], progress=lambda _t: None)
    app = make_app(lambda progress: session, settings)
    async with app.run_test(size=(200, 60), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.session is not None,
                       what="the session to load")
        screen = app.screen
        await pilot.press("ctrl+b")
        panel = screen.query_one(KnowledgePanel)
        await wait_for(pilot, lambda: "harden" in "".join(str(s.render()) for s in panel.query("Static")),
                       timeout=120, what="the knowledge panel to list the hostile document")
        await pilot.pause()
        text = drawn(app)
        assert app.is_running
        assert_literal(text, "Hello ␛]52;c;SEFSREVOLUNMSVA=␇", "HARDENCLR␛[2J", "[@click=app.quit]HARDEN-CLICK[/]",
                       "[b]HARDEN-BOLD[/b]", "Evil ␛]52;c;", "harden␛]0;HARDEN-TITLE")

        screen.query_one(PromptInput).insert("how often should brass teapots be descaled")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.answering, what="the answer to finish")
        await pilot.pause()
        text = drawn(app)
        assert app.is_running
        assert_literal(text, "Sure. ␛]52;c;SEFSREVOLUNMSVA=␇ then HARDENCLR␛[2J")
        # the retrieved passage in the panel (wrapped there, so read from the panel's own text)
        assert_literal(str(screen.query_one("#kb-retrieval").render()), "citric acid every month. ␛]52;c;",
                       "harden␛]0;HARDEN-TITLE")

        app.notify("note " + MARKUP + TITLE)
        await pilot.pause(0.3)
        from textual.widgets._toast import Toast

        toasts = " ".join(str(toast.render()) for toast in app.screen.query(Toast))  # toasts wrap: read their text
        assert_literal(drawn(app) + toasts, "note [@click=app.quit]HARDEN-CLICK[/] [b]HARDEN-BOLD[/b]␛]0;HARDEN-TITLE")

        session.history.rename_session(session.session_id, "Title " + TITLE + MARKUP)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions list")
        await pilot.pause()
        assert_literal(drawn(app), "Title ␛]0;HARDEN-TITLE␛\\[@click=app.quit]HARDEN-CLICK[/] [b]HARDEN-BOLD[/b]")
        await pilot.press("escape")
        assert app.is_running
