"""A persona that names an adapter, a knowledge folder and sampling settings applies them when chosen;
a missing adapter is a notice and the model stays as it was."""
from __future__ import annotations

from tuichat.personas.library import PersonaLibrary
from tuichat.personas.persona_file import parse_persona, persona_to_markdown
from tuichat.ui.widgets.status import StatusBar
from ui_helpers import loaded, wait_for

TUNED = """---
name: tuned
greeting: I answer with alpha.
adapter: alpha
knowledge: {knowledge}
generation: {{temperature: 0.0, max_new_tokens: 8}}
---
You answer briefly.
"""
MISSING = """---
name: lost
adapter: no-such-adapter
---
You answer briefly.
"""


def write_personas(folder, knowledge):
    folder.mkdir()
    (folder / "tuned.md").write_text(TUNED.format(knowledge=knowledge), encoding="utf-8")
    (folder / "lost.md").write_text(MISSING, encoding="utf-8")
    return folder


def test_persona_file_round_trips_its_setup(tmp_path):
    folder = write_personas(tmp_path / "personas", tmp_path / "kb")
    persona = PersonaLibrary([folder]).get("tuned")
    assert persona.adapter == "alpha" and persona.knowledge == str(tmp_path / "kb")
    again = parse_persona(persona_to_markdown(persona), folder / "again.md")
    assert (again.adapter, again.knowledge, again.generation) == (persona.adapter, persona.knowledge, persona.generation)


async def test_choosing_a_bound_persona_applies_its_adapter_and_knowledge(make_chat, tmp_path, tiny_model_dir):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "note.md").write_text("The teapot code name is TEAPOT-418.", encoding="utf-8")
    folder = write_personas(tmp_path / "personas", kb)
    session, app = make_chat(personas_dirs=[folder])
    notes: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        original = screen.notify
        screen.notify = lambda text, **kw: (notes.append(str(text)), original(text, **kw))[1]
        await screen._apply_persona("lost")
        await wait_for(pilot, lambda: not screen.swapping, what="the persona setup")
        assert session.engine.active_adapter is None  # unchanged, and the app still runs
        assert any("persona lost: no adapter named 'no-such-adapter'" in n for n in notes)

        await screen._apply_persona("tuned")
        await wait_for(pilot, lambda: not screen.swapping, what="the persona setup")
        assert session.engine.active_adapter == "alpha"
        assert screen.query_one(StatusBar).model.endswith("+ alpha")
        assert session.knowledge is not None and session.knowledge.retrieve("teapot code name").references
        assert any(n.startswith("Persona tuned applies: adapter alpha, knowledge") and "temperature 0.0" in n for n in notes)
