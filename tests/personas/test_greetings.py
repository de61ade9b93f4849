"""A persona greets in the user's language (from the locale) when it has a greeting for it."""
from pathlib import Path

import pytest

from tuichat.errors import PersonaError
from tuichat.personas.greetings import greeting_for, user_language
from tuichat.personas.persona_file import parse_persona, persona_to_markdown

PERSONA = """---
name: helper
greeting: Hello!
greetings:
  zh: 你好！有什么我可以帮忙的吗？
---
Be helpful.
"""


@pytest.mark.parametrize("env, language", [
    ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LC_MESSAGES": "de_DE", "LANG": "zh_CN.UTF-8"}, "de"), ({"LANG": "C.UTF-8"}, None), ({}, None),
    ({"LANG": "POSIX"}, None),
])
def test_user_language_comes_from_the_locale(env, language):
    assert user_language(env) == language


def test_greeting_in_the_users_language_else_the_default():
    persona = parse_persona(PERSONA, Path("helper.md"))
    assert greeting_for(persona, "zh") == "你好！有什么我可以帮忙的吗？"
    assert greeting_for(persona, "fr") == greeting_for(persona, None) == "Hello!"
    again = parse_persona(persona_to_markdown(persona), Path("helper.md"))
    assert again.greetings == {"zh": "你好！有什么我可以帮忙的吗？"}


@pytest.mark.parametrize("value, message", [
    ("greetings: hi", "must map language codes"),
    ("greetings:\n  chinese: 你好", "is not a language code"),
    ("greetings:\n  zh: ''", "must be non-empty"),
])
def test_a_bad_greetings_value_is_one_line_naming_the_file_and_line(value, message):
    text = f"---\nname: helper\n{value}\n---\nBe helpful.\n"
    with pytest.raises(PersonaError, match=message) as info:
        parse_persona(text, Path("helper.md"))
    assert str(info.value).startswith("helper.md:3:")


def test_a_new_session_greets_in_chinese_under_a_chinese_locale(fake_session, monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    session = fake_session(persona="assistant")
    assert session.branch()[0].content == "你好！有什么我可以帮忙的吗？"
    stored = session.history.messages(session.session_id)
    assert stored[0].role == "assistant" and stored[0].content == "你好！有什么我可以帮忙的吗？"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    session.new_session()
    assert session.branch()[0].content == "Hello! What can I help you with today?"
