"""Greetings in the user's language.

A persona may carry greetings per language beside its default one:

    greeting: Hello! What can I help you with today?
    greetings:
      zh: 你好！有什么我可以帮忙的吗？

The user's language comes from the locale (LC_ALL, then LC_MESSAGES, then LANG: `zh_CN.UTF-8` → `zh`);
a persona without a greeting for it greets with its default one.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from tuichat.errors import PersonaError

LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")


def user_language(environ: Mapping[str, str] | None = None) -> str | None:
    """The two- or three-letter language of the user's locale, or None for "C"/"POSIX"/unset."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            language = re.split(r"[_.@-]", value, maxsplit=1)[0].lower()
            return language if LANGUAGE_RE.match(language) else None
    return None


def parse_greetings(path: Path, value: Any, line: int) -> dict[str, str]:
    """The `greetings:` front-matter value: a mapping of language codes to non-empty texts."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(path, "'greetings' must map language codes to texts, e.g. 'zh: 你好！'", line)
    out: dict[str, str] = {}
    for language, text in value.items():
        if not (isinstance(language, str) and LANGUAGE_RE.match(language)):
            raise _error(path, f"'greetings' key {language!r} is not a language code like 'zh' or 'en'", line)
        if not isinstance(text, str) or not text.strip():
            raise _error(path, f"the '{language}' greeting must be non-empty text", line)
        out[language] = text.strip()
    return out


def greeting_for(persona: Any, language: str | None) -> str:
    """The persona's greeting in `language` when it has one, else its default greeting."""
    greetings = getattr(persona, "greetings", None) or {}
    return greetings.get(language or "", "") or persona.greeting


def _error(path: Path, what: str, line: int) -> PersonaError:
    from tuichat.personas.persona_file import PersonaFileError  # that module imports this one

    return PersonaFileError(path, what, line)
