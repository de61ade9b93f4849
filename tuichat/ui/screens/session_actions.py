"""What the chat screen does with whole sessions: a new session, switching the persona, the
sessions list (ctrl+l: resume, rename, delete, export) and exporting the current session to
Markdown (F9)."""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from tuichat.ui import workers
from tuichat.ui.exporting import export_session
from tuichat.ui.screens.persona_picker import PersonaPickerScreen
from tuichat.ui.screens.sessions import SessionsScreen
from tuichat.ui.widgets.chat import ChatPane
from tuichat.ui.widgets.knowledge import KnowledgePanel
from tuichat.ui.widgets.status import StatusBar

if TYPE_CHECKING:
    from tuichat.ui.screens.chat import ChatScreen


class SessionActions:
    """Mixed into ChatScreen (which provides session, answering, _when_idle and _show_conversation)."""

    async def action_new_session(self: "ChatScreen") -> None:
        if not self._ready():
            return

        async def fresh() -> None:
            self.session.new_session()
            self.query_one(KnowledgePanel).show_retrieval(None)
            await self._show_conversation()

        await self._when_idle(fresh)

    def action_switch_persona(self: "ChatScreen") -> None:
        if not self._ready():
            return
        library = self.session.personas

        async def chosen(name: str | None) -> None:
            if name and name != self.session.persona.name:
                await self._when_idle(partial(self._apply_persona, name), stop=False)

        picker = PersonaPickerScreen(library.all(), self.session.persona.name, library.errors)
        self.app.push_screen(picker, chosen)

    async def _apply_persona(self: "ChatScreen", name: str) -> None:
        try:
            persona = self.session.set_persona(name)
        except Exception as exc:
            self.notify(workers.describe(exc), title="Persona", severity="error")
            return
        self.query_one(StatusBar).persona = persona.name
        if persona.greeting:
            await self.query_one(ChatPane).add_turn(self.session.branch()[-1])
        self.notify(f"Persona: {persona.title or persona.name} (from the next answer)")
        self.start_persona_setup(persona)
        self._run(workers.count_context, self.session, self.post_message, group="context")

    def action_sessions(self: "ChatScreen") -> None:
        if not self._ready():
            return

        async def closed(result: tuple[str, int] | None) -> None:
            if result is None:
                return
            what, session_id = result
            if what == "resume":
                await self._when_idle(partial(self._resume, session_id))
            elif what == "deleted":  # the current session is gone: start a fresh one
                await self.action_new_session()

        self.app.push_screen(SessionsScreen(self.session.history, self.session.session_id, self.answering), closed)

    async def _resume(self: "ChatScreen", session_id: int) -> None:
        try:
            notices = self.session.resume(session_id)
        except Exception as exc:  # e.g. deleted meanwhile by another tuichat: say so, keep this one
            self.notify(f"Could not open session {session_id}: {workers.describe(exc)}", severity="error")
            return
        for notice in notices:
            self.notify(notice, severity="warning", timeout=10)
        self.query_one(KnowledgePanel).show_retrieval(None)
        await self._show_conversation()

    def action_export_session(self: "ChatScreen") -> None:
        if not self._ready():
            return
        try:
            history, session_id = self.session.history, self.session.session_id
            info = history.session(session_id)
            path = export_session(history, session_id, info.title if info else None)
        except Exception as exc:
            self.notify(f"Export failed: {workers.describe(exc)}", severity="error")
            return
        self.notify(f"Exported to {path}", timeout=8)
