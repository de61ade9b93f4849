"""Character-card import/export: field mapping, PNG cards, round trips, refusing bad input."""
from __future__ import annotations

import base64
import json
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from tuichat import paths
from tuichat.errors import PersonaError
from tuichat.personas.cards import (
    card_to_persona,
    import_card,
    parse_examples,
    persona_to_card,
    read_card,
)
from tuichat.personas.library import PersonaLibrary
from tuichat.personas.persona_file import load_persona_file

CARDS = Path(__file__).parent / "data" / "cards"


def _png_with_text(key: bytes, payload: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", key + b"\0" + payload)
            + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b""))


def test_v2_card_maps_onto_persona_fields():
    p = card_to_persona(read_card(CARDS / "seraphina_v2.json"))
    assert (p.name, p.title, p.language) == ("seraphina", "Seraphina", "en")
    assert p.greeting == "*Seraphina smiles softly.* You're awake, User. Rest now; you are safe here."
    assert p.system_prompt.startswith("You are Seraphina. Stay in character")
    assert "Seraphina is a gentle forest guardian" in p.system_prompt
    assert "Seraphina's personality: kind, calm, protective" in p.system_prompt
    assert "Scenario: User wakes up in Seraphina's glade" in p.system_prompt
    assert "{{" not in p.system_prompt + p.greeting
    assert p.examples == (
        ("Where am I?", "In my glade, deep in the forest.\nNothing can harm you here."),
        ("Who are you?", "I am Seraphina, guardian of this forest."),
    )
    assert p.description == "Seraphina is a gentle forest guardian with pink hair."
    assert p.keywords == ("Seraphina",)


def test_v1_card_with_legacy_macros_and_chinese_text():
    p = card_to_persona(read_card(CARDS / "neko_v1.json"), name="xiaohua")
    assert (p.name, p.title, p.language) == ("xiaohua", "小花", "zh")
    assert p.system_prompt.startswith("Write 小花's next reply.")
    assert "小花是一只住在咖啡店里的猫娘。" in p.system_prompt and "{{original}}" not in p.system_prompt
    assert p.greeting == "欢迎光临喵～ User想喝点什么？"
    assert p.examples == (("你好", "你好喵！"),)


def test_import_writes_a_loadable_user_persona_and_refuses_to_overwrite():
    dest, persona = import_card(CARDS / "seraphina_v2.json", paths.user_personas_dir())
    assert dest == paths.user_personas_dir() / "seraphina.md"
    loaded = PersonaLibrary().get("seraphina")
    assert loaded == replace(persona, source=dest)
    dest.write_text(dest.read_text(encoding="utf-8").replace("Seraphina", "Changed"), encoding="utf-8")
    with pytest.raises(PersonaError, match="already exists; pass --force"):
        import_card(CARDS / "seraphina_v2.json", paths.user_personas_dir())
    assert "Changed" in dest.read_text(encoding="utf-8")  # nothing was touched
    import_card(CARDS / "seraphina_v2.json", paths.user_personas_dir(), force=True)
    assert load_persona_file(dest).title == "Seraphina"


def test_export_then_import_gives_back_every_bundled_persona(tmp_path):
    for persona in PersonaLibrary().all():
        card_file = tmp_path / f"{persona.name}.json"
        card_file.write_text(json.dumps(persona_to_card(persona), ensure_ascii=False), encoding="utf-8")
        dest, _ = import_card(card_file, tmp_path / "out")
        assert load_persona_file(dest) == replace(persona, source=dest)


@pytest.mark.parametrize("key", [b"chara", b"ccv3"])
def test_png_card(tmp_path, key):
    card = json.loads((CARDS / "seraphina_v2.json").read_text(encoding="utf-8"))
    png = tmp_path / "card.png"
    png.write_bytes(_png_with_text(key, base64.b64encode(json.dumps(card).encode())))
    assert card_to_persona(read_card(png)).title == "Seraphina"


def test_png_without_a_card_is_refused(tmp_path):
    png = tmp_path / "photo.png"
    png.write_bytes(_png_with_text(b"Comment", b"just a photo"))
    with pytest.raises(PersonaError, match=r"photo.png: this PNG carries no character card"):
        read_card(png)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "A",\n "description": }', r"bad.json:2: not a character card: invalid JSON"),
        ('["a list"]', r"bad.json: not a character card: expected a JSON object"),
        ('{"description": "no name"}', r"bad.json: the card has no 'name'"),
        ('{"name": "A", "first_mes": 3}', r"bad.json: card field 'first_mes' must be text"),
    ],
)
def test_bad_cards_name_the_file(tmp_path, text, message):
    bad = tmp_path / "bad.json"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(PersonaError, match=message):
        import_card(bad, paths.user_personas_dir())
    assert list(paths.user_personas_dir().iterdir()) == []


def test_a_name_with_path_separators_is_refused():
    with pytest.raises(PersonaError, match="no path separators"):
        import_card(CARDS / "seraphina_v2.json", paths.user_personas_dir(), name="../escape")
    assert list(paths.user_personas_dir().iterdir()) == []


def test_examples_parser_skips_unpaired_lines_and_accepts_the_character_name():
    text = "<START>\n{{char}}: (monologue)\n{{user}}: hi\nSeraphina: hello\n\n<START>\n{{user}}: only a question"
    assert parse_examples(text, "Seraphina") == (("hi", "hello"),)
