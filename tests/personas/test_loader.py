"""Persona files → Persona objects: fields, override order, live reload, and bad input."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tuichat import paths
from tuichat.errors import PersonaError
from tuichat.personas.library import PersonaLibrary
from tuichat.personas.persona_file import DEFAULT_PERSONA, load_persona_file, parse_persona, persona_to_markdown

DATA = Path(__file__).parent / "data"


def _errors_for(library: PersonaLibrary, filename: str) -> list[str]:
    return [e for e in library.errors if e.startswith(str(DATA / "bad" / filename))]


def test_fields_of_a_full_persona_file():
    p = load_persona_file(DATA / "layer_a" / "pirate.md")
    assert (p.name, p.title, p.language, p.greeting) == ("pirate", "Pirate", "en", "Ahoy, matey!")
    assert p.keywords == ("ahoy", "matey", "arr")
    assert p.generation == {"temperature": 0.9, "max_new_tokens": 200}
    assert p.system_prompt == "You are a pirate. Speak like one."
    assert p.system_messages() == [
        {"role": "system", "content": "You are a pirate. Speak like one."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Ahoy, matey! Arr!"},
    ]


def test_missing_fields_get_defaults_and_the_name_comes_from_the_file():
    p = load_persona_file(DATA / "layer_a" / "plain.md")
    assert (p.name, p.title, p.language, p.keywords, p.examples) == ("plain", "Plain", "en", (), ())


def test_bundled_personas_load_cleanly():
    library = PersonaLibrary()
    assert library.errors == []
    names = library.names()
    assert names[0] == DEFAULT_PERSONA
    assert {"assistant", "catgirl", "catgirl-en", "translator", "tutor"} <= set(names)
    catgirl = library.get("catgirl")
    assert catgirl.language == "zh" and {"主人", "喵", "猫娘"} <= set(catgirl.keywords)
    assert catgirl.examples and all("喵" in answer for _, answer in catgirl.examples)
    assert {"master", "nya"} <= set(library.get("catgirl-en").keywords)


def test_user_dir_overrides_bundled_and_extra_dirs_override_both():
    user_file = paths.user_personas_dir() / "catgirl.md"
    user_file.write_text("---\nname: catgirl\ntitle: My cat\n---\nMeow only.\n", encoding="utf-8")
    library = PersonaLibrary()
    assert library.get("catgirl").title == "My cat"
    assert library.origin("catgirl") == "user"
    assert library.shadowed("catgirl") == [paths.bundled_personas_dir() / "catgirl.md"]

    layered = PersonaLibrary([DATA / "layer_a", DATA / "layer_b"])
    assert layered.get("pirate").title == "Pirate (override)"  # the later extra dir wins
    assert layered.sources()["pirate"] == DATA / "layer_b" / "pirate.md"
    assert layered.get("plain").source == DATA / "layer_a" / "plain.md"
    assert layered.get("catgirl").title == "My cat"  # user layer still applies underneath


def test_a_single_file_can_be_given_as_an_extra_location():
    library = PersonaLibrary([DATA / "layer_b" / "pirate.md"])
    assert library.get("pirate").keywords == ("yo-ho",)


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(PersonaError, match=r"unknown persona 'nope'; available: .*assistant.*catgirl"):
        PersonaLibrary().get("nope")


def test_edits_on_disk_are_picked_up_without_a_new_library(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    f = folder / "moody.md"
    f.write_text("---\nname: moody\ngreeting: hi\n---\nBe happy.\n", encoding="utf-8")
    library = PersonaLibrary([folder])
    assert library.get("moody").system_prompt == "Be happy."
    f.write_text("---\nname: moody\ngreeting: hi\n---\nBe grumpy, always.\n", encoding="utf-8")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000))  # coarse clocks: force a new mtime
    assert library.get("moody").system_prompt == "Be grumpy, always."
    (folder / "fresh.md").write_text("---\nname: fresh\n---\nNew here.\n", encoding="utf-8")
    assert "fresh" in library.names()
    f.unlink()
    with pytest.raises(PersonaError):
        library.get("moody")


def test_bad_files_are_reported_with_file_and_line_and_the_rest_still_load():
    library = PersonaLibrary([DATA / "bad"])
    assert library.get("survivor").system_prompt == "I still load."
    assert library.get("assistant")  # bundled ones are unaffected
    assert len(library.errors) == 6, library.errors  # README.txt is not a persona file, so no error for it

    (yaml_error,) = _errors_for(library, "invalid_yaml.md")
    assert yaml_error.startswith(f"{DATA / 'bad' / 'invalid_yaml.md'}:4: invalid YAML")
    (no_body,) = _errors_for(library, "no_body.md")
    assert ":6: the body" in no_body and "empty" in no_body
    (unknown,) = _errors_for(library, "unknown_key.md")
    assert ":4: unknown front-matter key 'colour'" in unknown
    (dup,) = _errors_for(library, "dup_two.md")
    assert "duplicate persona name 'twin'" in dup and "dup_one.md" in dup
    assert library.get("twin").title == "First twin"
    (evil,) = _errors_for(library, "evil_name.md")
    assert ":2: persona name '../../etc/evil'" in evil and "path separators" in evil
    (latin1,) = _errors_for(library, "not_utf8.md")
    assert ":4: not UTF-8" in latin1


def test_get_explains_why_a_broken_persona_is_missing():
    with pytest.raises(PersonaError, match=r"persona 'unknown_key' could not be loaded: .*unknown_key.md:4"):
        PersonaLibrary([DATA / "bad"]).get("unknown_key")


def test_a_missing_extra_folder_is_an_error_line_not_a_crash(tmp_path):
    library = PersonaLibrary([tmp_path / "nowhere"])
    assert library.errors == [f"{tmp_path / 'nowhere'}: personas folder or file not found"]
    assert library.get("assistant")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter\n", r"x.md:1: must start with a '---'"),
        ("---\nname: a\n", r"x.md:1: front matter is not closed"),
        ("---\n- a list\n---\nbody\n", r"x.md:2: front matter must be a mapping"),
        ("---\nkeywords: meow\n---\nbody\n", r"x.md:2: 'keywords' must be a list"),
        ("---\ngeneration:\n  temprature: 1\n---\nbody\n", r"x.md:2: unknown generation key 'temprature'"),
        ("---\ngeneration: {max_new_tokens: 1.5}\n---\nbody\n", r"generation 'max_new_tokens' must be an integer"),
        ("---\nexamples:\n  - user: hi\n---\nbody\n", r"x.md:2: 'examples' must be a list of \{user"),
        ("---\ntitle: {a: 1}\n---\nbody\n", r"x.md:2: 'title' must be text"),
    ],
)
def test_validation_messages(text, message):
    with pytest.raises(PersonaError, match=message):
        parse_persona(text, Path("x.md"))


def test_markdown_round_trip_keeps_every_field():
    for persona in PersonaLibrary().all():
        again = parse_persona(persona_to_markdown(persona), persona.source)
        assert again == persona


def test_copying_a_bundled_file_into_the_user_dir_is_a_valid_override():
    shutil.copy(paths.bundled_personas_dir() / "tutor.md", paths.user_personas_dir() / "tutor.md")
    library = PersonaLibrary()
    assert library.errors == [] and library.origin("tutor") == "user"
