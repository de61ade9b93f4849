"""One persona file: Markdown with YAML front matter (the body is the system prompt), parsed into
a `Persona` and written back. A bad file raises `PersonaFileError` ("path:line: what is wrong").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tuichat.errors import PersonaError
from tuichat.personas.greetings import parse_greetings

DEFAULT_PERSONA = "assistant"
SUFFIX = ".md"
README = "readme.md"  # documentation beside the personas, not a persona
FENCE = "---"
# Letters (any script), digits, "_", "-", "."; no path separators, no leading dot.
NAME_RE = re.compile(r"^\w[\w.-]*$")
FRONT_MATTER_KEYS = ("name", "title", "description", "language", "greeting", "greetings", "keywords", "generation",
                     "examples", "adapter", "knowledge")
GENERATION_KEYS = {"temperature": float, "top_p": float, "max_new_tokens": int, "repetition_penalty": float}


@dataclass(frozen=True)
class Persona:
    name: str
    title: str
    description: str
    language: str
    greeting: str
    keywords: tuple[str, ...]
    system_prompt: str
    generation: dict = field(default_factory=dict)  # overrides of GenerationParams fields
    examples: tuple[tuple[str, str], ...] = ()  # (user, assistant) exchanges shown before the chat
    source: Path | None = None
    adapter: str = ""  # an adapter name or folder this persona answers with ("base" = none)
    knowledge: str = ""  # a knowledge folder this persona retrieves from
    greetings: dict = field(default_factory=dict)  # language code -> greeting (see personas.greetings)

    def system_messages(self) -> list[dict]:
        """The pinned head of every prompt: the system prompt, then the example exchanges."""
        messages = [{"role": "system", "content": self.system_prompt}]
        for user, assistant in self.examples:
            messages.append({"role": "user", "content": user})
            messages.append({"role": "assistant", "content": assistant})
        return messages


class PersonaFileError(PersonaError):
    """A persona file that cannot be used; `str()` is "path:line: what is wrong"."""

    def __init__(self, path: Path, what: str, line: int | None = None) -> None:
        self.path, self.line, self.what = path, line, what
        super().__init__(f"{path}:{line}: {what}" if line else f"{path}: {what}")


# -- parsing ---------------------------------------------------------------------------------------
def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PersonaFileError(path, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", line) from None


def _split(path: Path, text: str) -> tuple[str, str, int]:
    """(front matter, body, line number where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        raise PersonaFileError(path, f"must start with a '{FENCE}' line opening the YAML front matter", 1)
    for i in range(1, len(lines)):
        if lines[i].strip() == FENCE:
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    raise PersonaFileError(path, f"front matter is not closed by a '{FENCE}' line", 1)


def _key_lines(front: str) -> dict[str, int]:
    """Line (1-based, within the front matter) of each top-level key, for error messages."""
    node = yaml.compose(front, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 for k, _ in node.value}


def _text(path: Path, data: dict, key: str, line: int, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise PersonaFileError(path, f"'{key}' must be text, got {type(value).__name__}", line)
    return str(value).strip()


def _keywords(path: Path, value: Any, line: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(k, (str, int)) and str(k).strip() for k in value):
        raise PersonaFileError(path, "'keywords' must be a list of non-empty words, e.g. [喵, 主人]", line)
    return tuple(dict.fromkeys(str(k).strip() for k in value))  # de-duplicated, order kept


def _generation(path: Path, value: Any, line: int) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PersonaFileError(path, "'generation' must be a mapping, e.g. {temperature: 0.8}", line)
    out: dict = {}
    for key, number in value.items():
        kind = GENERATION_KEYS.get(key)
        if kind is None:
            raise PersonaFileError(path, f"unknown generation key '{key}' (allowed: {', '.join(GENERATION_KEYS)})", line)
        if isinstance(number, bool) or not isinstance(number, (int, float)) or (kind is int and not isinstance(number, int)):
            raise PersonaFileError(path, f"generation '{key}' must be {'an integer' if kind is int else 'a number'}", line)
        out[key] = kind(number)
    return out


def _examples(path: Path, value: Any, line: int) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    hint = "'examples' must be a list of {user: ..., assistant: ...} exchanges"
    if not isinstance(value, list):
        raise PersonaFileError(path, hint, line)
    out = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or set(item) != {"user", "assistant"}:
            raise PersonaFileError(path, f"{hint} (item {i} is not)", line)
        user, assistant = str(item["user"] or "").strip(), str(item["assistant"] or "").strip()
        if not user or not assistant:
            raise PersonaFileError(path, f"example {i} has an empty user or assistant message", line)
        out.append((user, assistant))
    return tuple(out)


def check_name(name: str, path: Path | None = None, line: int | None = None) -> str:
    """A persona name is also a file name: refuse separators, '..' and other surprises."""
    if not NAME_RE.match(name) or "/" in name or "\\" in name:
        what = f"persona name '{name}' must be letters, digits, '-', '_' or '.' (no path separators, no leading dot)"
        if path is None:
            raise PersonaError(what)
        raise PersonaFileError(path, what, line)
    return name


def parse_persona(text: str, path: Path) -> Persona:
    """A Persona from the text of a persona file; PersonaFileError names the line that is wrong."""
    front, body, body_line = _split(path, text)
    try:
        data = yaml.safe_load(front)
        lines = _key_lines(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        what = f"invalid YAML front matter: {problem.replace('<stream end>', 'the closing ---')}"
        context = getattr(exc, "context_mark", None)
        if context is not None and mark is not None and context.line != mark.line:
            what += f" ({getattr(exc, 'context', None) or 'the value'} that starts on line {context.line + 2})"
        raise PersonaFileError(path, what, mark.line + 2 if mark else 2) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PersonaFileError(path, "front matter must be a mapping of 'key: value' lines", 2)
    line = {key: n + 1 for key, n in lines.items()}  # +1: the opening '---' is line 1
    for key in data:
        if key not in FRONT_MATTER_KEYS:
            raise PersonaFileError(path, f"unknown front-matter key '{key}' (allowed: {', '.join(FRONT_MATTER_KEYS)})", line.get(str(key)))
    name = _text(path, data, "name", line.get("name", 2), default=path.stem)
    check_name(name, path, line.get("name"))
    system_prompt = body.strip()
    if not system_prompt:
        raise PersonaFileError(path, "the body (the system prompt, after the closing '---') is empty", body_line)
    return Persona(
        name=name,
        title=_text(path, data, "title", line.get("title", 2), default=name),
        description=_text(path, data, "description", line.get("description", 2)),
        language=_text(path, data, "language", line.get("language", 2), default="en"),
        greeting=_text(path, data, "greeting", line.get("greeting", 2)),
        keywords=_keywords(path, data.get("keywords"), line.get("keywords", 2)),
        system_prompt=system_prompt,
        generation=_generation(path, data.get("generation"), line.get("generation", 2)),
        examples=_examples(path, data.get("examples"), line.get("examples", 2)),
        source=path,
        adapter=_text(path, data, "adapter", line.get("adapter", 2)),
        knowledge=_text(path, data, "knowledge", line.get("knowledge", 2)),
        greetings=parse_greetings(path, data.get("greetings"), line.get("greetings", 2)),
    )


def load_persona_file(path: Path) -> Persona:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PersonaFileError(path, f"cannot read: {exc.strerror}") from None
    return parse_persona(_decode(path, raw), path)


def persona_to_markdown(persona: Persona) -> str:
    """The file text for `persona`; `parse_persona` of it gives the same persona back."""
    front: dict[str, Any] = {"name": persona.name, "title": persona.title}
    if persona.description:
        front["description"] = persona.description
    front["language"] = persona.language
    if persona.greeting:
        front["greeting"] = persona.greeting
    if persona.greetings:
        front["greetings"] = dict(persona.greetings)
    front["keywords"] = list(persona.keywords)
    if persona.generation:
        front["generation"] = dict(persona.generation)
    if persona.examples:
        front["examples"] = [{"user": u, "assistant": a} for u, a in persona.examples]
    for key in ("adapter", "knowledge"):
        if getattr(persona, key):
            front[key] = getattr(persona, key)
    head = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=100)
    return f"{FENCE}\n{head}{FENCE}\n\n{persona.system_prompt.strip()}\n"
