"""Fuzzing the persona, character-card and config loaders: whatever the file holds, only the
project's own errors (TuichatError) escape, and a bad persona file never hides the good ones."""
from __future__ import annotations

import base64
import json
import struct
import tempfile
import zlib
from pathlib import Path

import yaml
from hypothesis import given, strategies as st

from tuichat.core.config import load_settings
from tuichat.errors import TuichatError
from tuichat.personas.cards import PNG_MAGIC, card_to_persona, read_card
from tuichat.personas.library import PersonaLibrary
from tuichat.personas.persona_file import FRONT_MATTER_KEYS, load_persona_file

GOOD_PERSONA = "---\nname: good\ntitle: Good\ngreeting: hi\n---\nYou are good.\n"

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)
persona_keys = st.one_of(st.sampled_from(FRONT_MATTER_KEYS), st.text(max_size=12))


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@st.composite
def persona_files(draw) -> bytes:
    kind = draw(st.sampled_from(["yaml", "raw", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "raw":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    front = draw(st.dictionaries(persona_keys, values, max_size=8))
    try:
        head = yaml.safe_dump(front, allow_unicode=True)
    except yaml.YAMLError:
        head = "{}"
    return f"---\n{head}---\n{draw(st.text(max_size=200))}".encode("utf-8", "surrogatepass")


@given(persona_files())
def test_persona_files(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bad = _write(folder, "fuzzed.md", data)
        _write(folder, "good.md", GOOD_PERSONA.encode())
        try:
            load_persona_file(bad)
        except TuichatError:
            pass
        library = PersonaLibrary([folder])
        assert library.get("good").greeting == "hi"  # the bad file never stops the good one


card_fields = st.sampled_from(["name", "description", "personality", "scenario", "first_mes", "mes_example",
                               "system_prompt", "creator_notes", "tags", "spec", "data"])


@st.composite
def card_objects(draw):
    flat = draw(st.dictionaries(card_fields, st.one_of(st.text(max_size=60), values), max_size=8))
    if draw(st.booleans()):
        return {"spec": "chara_card_v2", "data": flat}
    return draw(st.one_of(st.just(flat), values))


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = PNG_MAGIC
    for kind, body in chunks:
        out += struct.pack(">I4s", len(body), kind) + body + struct.pack(">I", zlib.crc32(kind + body))
    return out


@st.composite
def card_pngs(draw) -> bytes:
    card = base64.b64encode(json.dumps(draw(card_objects()), default=str).encode())
    kind = draw(st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"IEND"]))
    key = draw(st.sampled_from([b"chara", b"ccv3", b"other"]))
    body = draw(st.one_of(st.just(card), st.binary(max_size=80)))
    if kind == b"zTXt":
        body = b"\0" + (zlib.compress(body) if draw(st.booleans()) else body)
    elif kind == b"iTXt":
        body = bytes([draw(st.integers(0, 1)), 0]) + b"en\0\0" + (zlib.compress(body) if draw(st.booleans()) else body)
    raw = _png([(kind, key + b"\0" + body), (b"IEND", b"")])
    cut = draw(st.integers(len(PNG_MAGIC), len(raw)))
    return raw[:cut] + draw(st.binary(max_size=20))


@given(st.one_of(card_objects().map(lambda c: ("json", json.dumps(c, default=str).encode())),
                 st.binary(max_size=200).map(lambda b: ("json", b)),
                 card_pngs().map(lambda b: ("png", b))))
def test_character_cards(item):
    suffix, data = item
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), f"card.{suffix}", data)
        try:
            card_to_persona(read_card(path), source=path)
        except TuichatError:
            pass


toml_values = st.one_of(
    st.integers(-10**6, 10**7).map(str), st.floats(allow_nan=True).map(lambda f: repr(f).replace("inf", "inf")),
    st.booleans().map(lambda b: "true" if b else "false"), st.text(max_size=20).map(json.dumps),
    st.just("[1, 2]"), st.just('{ a = "b" }'), st.just('{ stop = "f5" }'), st.just("nan"), st.just("-inf"))
setting_keys = st.one_of(st.sampled_from(["model", "adapter", "persona", "temperature", "top_p", "max_new_tokens",
                                          "repetition_penalty", "seed", "context_budget", "knowledge_dir",
                                          "knowledge", "gate", "top_k", "load_in_4bit", "device", "dtype", "keys",
                                          "explicit"]),
                         st.from_regex(r"[a-z_]{1,12}", fullmatch=True))


@given(st.lists(st.tuples(setting_keys, toml_values), max_size=6), st.text(max_size=40))
def test_config_toml(pairs, junk):
    text = "".join(f"{k} = {v}\n" for k, v in pairs)
    with tempfile.TemporaryDirectory() as tmp:
        for body in (text, text + junk):
            path = _write(Path(tmp), "config.toml", body.encode("utf-8", "surrogatepass"))
            try:
                settings = load_settings(path)
            except TuichatError:
                continue
            settings.with_overrides(temperature=None)  # a loaded Settings is usable
            settings.generation_params()
