"""SillyTavern / Character Card V1–V3 import (and export) for personas.

A card is JSON (flat V1 fields, or V2/V3 `{"spec": "chara_card_v2", "data": {...}}`), or a PNG with
that JSON base64-encoded in a `chara`/`ccv3` text chunk. Mapping to a persona:
- body (system prompt) = the card's `system_prompt` (or a stay-in-character line) + description,
  personality, scenario and post-history instructions;
- greeting = `first_mes`; examples = `mes_example` split on `<START>` into {{user}}/{{char}} pairs;
- `{{char}}`/`<BOT>` become the character's name, `{{user}}`/`<USER>` become "User".
Our export stores the persona's own fields under `extensions.tuichat`, so export → import is lossless.
"""
from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from tuichat.errors import PersonaError
from tuichat.personas.greetings import LANGUAGE_RE
from tuichat.personas.persona_file import Persona, check_name, parse_persona, persona_to_markdown

CARD_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example",
               "system_prompt", "post_history_instructions", "creator_notes")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
USER_NAME = "User"


# -- reading ---------------------------------------------------------------------------------------
MAX_CARD_BYTES = 16 * 1024 * 1024  # a compressed chunk may not inflate past this (zip bombs)


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_CARD_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("compressed card too large")
    if not inflater.eof:
        raise zlib.error("truncated compressed chunk")
    return out


def _png_card_text(path: Path, raw: bytes) -> str:
    """The base64 JSON from a card PNG's tEXt/iTXt/zTXt chunk (V3 `ccv3` preferred over `chara`)."""
    found: dict[str, bytes] = {}
    pos = len(PNG_MAGIC)
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        chunk = raw[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, _, value = chunk.partition(b"\0")
            try:
                if kind == b"zTXt":
                    value = _inflate(value[1:])
                elif kind == b"iTXt":  # flags, method, language\0, translated keyword\0, text
                    compressed, value = value[0], value[2:]
                    value = value.split(b"\0", 2)[-1]
                    value = _inflate(value) if compressed else value
            except (zlib.error, IndexError, ValueError):
                continue  # a broken text chunk: the card may still be in another one
            found[key.decode("latin-1").lower()] = value
        if kind == b"IEND":
            break
    value = found.get("ccv3") or found.get("chara")
    if value is None:
        raise PersonaError(f"{path}: this PNG carries no character card (no 'chara' text chunk)")
    try:
        return base64.b64decode(value).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise PersonaError(f"{path}: the PNG's character card is not valid base64 UTF-8 JSON") from None


def read_card(path: Path) -> dict[str, Any]:
    """The card's fields (V2/V3 `data`, or the flat V1 object)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PersonaError(f"{path}: cannot read: {exc.strerror}") from None
    if raw.startswith(PNG_MAGIC):
        text = _png_card_text(path, raw)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise PersonaError(f"{path}:{line}: not UTF-8 text; save the card as UTF-8") from None
    try:
        card = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PersonaError(f"{path}:{exc.lineno}: not a character card: invalid JSON ({exc.msg})") from None
    if isinstance(card, dict) and isinstance(card.get("data"), dict) and str(card.get("spec", "")).startswith("chara_card"):
        card = card["data"]
    if not isinstance(card, dict):
        raise PersonaError(f"{path}: not a character card: expected a JSON object")
    for key in CARD_FIELDS:
        if card.get(key) is not None and not isinstance(card[key], str):
            raise PersonaError(f"{path}: card field '{key}' must be text, got {type(card[key]).__name__}")
    if not str(card.get("name") or "").strip():
        raise PersonaError(f"{path}: the card has no 'name'")
    return card


# -- card → persona --------------------------------------------------------------------------------
def _macros(text: str, char: str) -> str:
    # A function as the replacement: a card's name is text, never a regex template ("\\" in a name).
    text = re.sub(r"\{\{\s*char\s*\}\}|<BOT>", lambda _m: char, text or "", flags=re.IGNORECASE)
    text = re.sub(r"\{\{\s*user\s*\}\}|<USER>", USER_NAME, text, flags=re.IGNORECASE)
    return text.strip()


def slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name.strip().lower()).strip("-.")


def detect_language(text: str) -> str:
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"
    if re.search(r"[\uac00-\ud7af]", text):
        return "ko"
    if re.search(r"[\u4e00-\u9fff]", text):
        return "zh"
    return "en"


def parse_examples(mes_example: str, char: str) -> tuple[tuple[str, str], ...]:
    """`<START>`-separated blocks of `{{user}}: …` / `{{char}}: …` lines → (user, assistant) pairs.
    Lines without a speaker continue the previous message; a reply without a question is skipped."""
    speaker = re.compile(r"^\s*(\{\{\s*user\s*\}\}|<USER>|\{\{\s*char\s*\}\}|<BOT>|" + re.escape(char) + r")\s*:\s?", re.IGNORECASE)
    pairs: list[tuple[str, str]] = []
    for block in re.split(r"<START>", mes_example or "", flags=re.IGNORECASE):
        turns: list[list[str]] = []  # [role, text]
        for line in block.splitlines():
            m = speaker.match(line)
            if m:
                role = "user" if m.group(1).lower().strip("{}< >") == "user" else "assistant"
                turns.append([role, line[m.end():]])
            elif turns:
                turns[-1][1] += "\n" + line
        for (role_a, a), (role_b, b) in zip(turns, turns[1:]):
            if role_a == "user" and role_b == "assistant" and a.strip() and b.strip():
                pairs.append((_macros(a, char), _macros(b, char)))
    return tuple(pairs)


def _system_prompt(card: dict, char: str) -> str:
    intro = _macros(card.get("system_prompt") or "", char).replace("{{original}}", "").strip()
    parts = [intro or f"You are {char}. Stay in character: reply as {char} would, in {char}'s own voice."]
    for label, key in (("", "description"), (f"{char}'s personality: ", "personality"),
                       ("Scenario: ", "scenario"), ("", "post_history_instructions")):
        text = _macros(card.get(key) or "", char)
        if text:
            parts.append(label + text)
    return "\n\n".join(parts)


def _greetings(value: object) -> dict[str, str]:
    """Our greetings per language, as exported; anything malformed in a foreign card is ignored."""
    if not isinstance(value, dict):
        return {}
    return {k: v.strip() for k, v in value.items()
            if isinstance(k, str) and LANGUAGE_RE.match(k) and isinstance(v, str) and v.strip()}


def card_to_persona(card: dict, name: str | None = None, source: Path | None = None) -> Persona:
    char = card["name"].strip()
    ours = (card.get("extensions") or {}).get("tuichat") or {}
    persona_name = name or ours.get("name") or slug(char)
    if not persona_name:
        raise PersonaError(f"cannot make a persona name from '{char}'; pass --name NAME")
    check_name(persona_name)
    description = _macros(card.get("creator_notes") or "", char)
    if not description:
        first = re.split(r"(?<=[.!?。！？])\s*|\n", _macros(card.get("description") or "", char))[0]
        description = first[:117] + "…" if len(first) > 120 else first
    return Persona(
        name=persona_name,
        title=char,
        description=description,
        language=ours.get("language") or detect_language(" ".join(str(card.get(k) or "") for k in CARD_FIELDS)),
        greeting=_macros(card.get("first_mes") or "", char),
        # The character's name is the one word a reply in character is likely to contain.
        keywords=tuple(ours["keywords"] if "keywords" in ours else [char]),
        system_prompt=_system_prompt(card, char),
        generation=dict(ours.get("generation") or {}),
        greetings=_greetings(ours.get("greetings")),
        examples=parse_examples(card.get("mes_example") or "", char),
        source=source,
    )


def import_card(card_path: Path, dest_dir: Path, name: str | None = None, force: bool = False) -> tuple[Path, Persona]:
    """Write the card at `card_path` as `<dest_dir>/<name>.md`; refuses to overwrite unless `force`."""
    persona = card_to_persona(read_card(card_path), name)
    dest = dest_dir / f"{persona.name}.md"
    if dest.exists() and not force:
        raise PersonaError(f"{dest} already exists; pass --force to overwrite it or --name to pick another name")
    text = persona_to_markdown(persona)
    parse_persona(text, dest)  # never write a file the loader would reject
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(dest)
    return dest, persona


# -- persona → card --------------------------------------------------------------------------------
def persona_to_card(persona: Persona) -> dict:
    """A Character Card V2 of `persona` (the whole system prompt goes into `system_prompt`)."""
    examples = "\n".join(f"<START>\n{{{{user}}}}: {u}\n{{{{char}}}}: {a}" for u, a in persona.examples)
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": persona.title, "description": "", "personality": "", "scenario": "",
            "first_mes": persona.greeting, "mes_example": examples, "creator_notes": persona.description,
            "system_prompt": persona.system_prompt, "post_history_instructions": "",
            "alternate_greetings": [], "tags": [], "creator": "", "character_version": "",
            "extensions": {"tuichat": {"name": persona.name, "language": persona.language,
                                       "keywords": list(persona.keywords), "generation": dict(persona.generation),
                                       "greetings": dict(persona.greetings)}},
        },
    }
