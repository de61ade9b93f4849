"""Hostile inputs for the hardening tests: a knowledge folder, a persona file and a character card
that carry escape sequences (tests/hardening/payloads.py) in names, titles, greetings and text, and a
way to make the model's own output hostile."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from payloads import ALL, CLIPBOARD, MARKUP, TITLE  # noqa: E402

HOSTILE_DOC_NAME = f"harden{TITLE}.md"


@pytest.fixture
def hostile_kb(tmp_path) -> Path:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / HOSTILE_DOC_NAME).write_text(
        f"# Teapot care\n\nBrass teapots need descaling with citric acid every month. {ALL} {MARKUP}\n",
        encoding="utf-8")
    (folder / "plain.md").write_text("# Owls\n\nBarn owls cough up pellets of vole bones.\n", encoding="utf-8")
    (folder / f"broken{CLIPBOARD}.pdf").write_bytes(b"%PDF-1.4 not really")  # skipped, with its name shown
    return folder


@pytest.fixture
def hostile_personas(tmp_path) -> Path:
    folder = tmp_path / "personas"
    folder.mkdir()
    (folder / "hostile.md").write_text(
        "---\nname: hostile\n"
        f"title: {json.dumps('Evil ' + ALL + MARKUP)}\n"
        f"description: {json.dumps('desc ' + ALL)}\n"
        f"greeting: {json.dumps('Hello ' + ALL + MARKUP)}\n"
        "language: en\n"
        f"keywords: [{json.dumps('kw' + CLIPBOARD)}]\n"
        "---\n"
        f"You are hostile. {ALL}\n", encoding="utf-8")
    return folder


@pytest.fixture
def hostile_card(tmp_path) -> Path:
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {
        "name": "Cardy" + TITLE, "description": "card " + ALL, "personality": ALL, "scenario": "",
        "first_mes": "Hi from the card " + ALL + MARKUP, "mes_example": "", "system_prompt": "Be a card. " + ALL,
        "tags": [], "creator": "", "character_version": "", "extensions": {}}}
    path = tmp_path / f"card{CLIPBOARD}.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.fixture
def hostile_model(monkeypatch):
    """The real engine still loads and counts tokens; its answer is replaced by deltas that split
    escape sequences across delta boundaries."""
    from hostile_runtime import HOSTILE_OUTPUT, hostile_stream
    from tuichat.runtime.transformers_backend import Engine

    monkeypatch.setattr(Engine, "stream", hostile_stream)
    return "".join(HOSTILE_OUTPUT)
