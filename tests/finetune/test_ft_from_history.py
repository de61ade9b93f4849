"""Chats as training data, end to end: a real chat on the tiny model (with a regenerated answer and an
edited question) → `tuichat history export` → finetune reads each format as written and trains 2
steps on it. And the data rules: every assistant turn of a multi-turn row is a training target."""
from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from finetune.__main__ import main as finetune
from finetune.data import load_examples
from finetune.formatting import IGNORE, encode
from tuichat.cli.main import main as tuichat
from tuichat.core.config import Settings
from tuichat.core.history import History
from tuichat.core.session import ChatSession
from tuichat.personas.library import PersonaLibrary
from tuichat.runtime.transformers_backend import Engine


@pytest.fixture(scope="module")
def chatted(tiny_model_dir, tmp_path_factory):
    """One session: question 1 answered twice (regenerated), question 2 edited, answered per version."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("TUICHAT_HOME", str(home))
    engine = Engine.load(str(tiny_model_dir), progress=lambda _t: None)
    settings = Settings(temperature=0.8, seed=None, max_new_tokens=8, knowledge=False)
    session = ChatSession(engine, History(), PersonaLibrary(), None, settings, persona="catgirl")
    session.send("What colour is the sky?").wait()
    session.regenerate().wait()
    second = session.add_user_message("And the sea?")
    session.answer(second.id).wait()
    edited = session.edit(second.id, "And the grass?")
    session.answer(edited.id).wait()
    yield session, home
    mp.undo()


def export(fmt: str, out) -> list[dict]:
    assert tuichat(["history", "export", "--format", fmt, "--all", "--output", str(out)]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_export_writes_each_format_from_the_branch_on_screen(chatted, tmp_path, monkeypatch):
    session, home = chatted
    monkeypatch.setenv("TUICHAT_HOME", str(home))
    system = session.personas.get("catgirl").system_prompt
    shown = [t for t in session.branch() if t.parent_id is not None]  # the greeting is not an answer
    [row] = export("sharegpt", tmp_path / "sg.jsonl")
    assert row["messages"] == [{"role": "system", "content": system}] + [t.as_message() for t in shown]
    alpaca = export("alpaca", tmp_path / "a.jsonl")
    assert [(r["instruction"], r["system"]) for r in alpaca] == [
        ("What colour is the sky?", system), ("And the grass?", system)]
    dpo = export("dpo", tmp_path / "d.jsonl")
    sky = [r for r in dpo if r["prompt"][-1]["content"] == "What colour is the sky?"]
    assert len(sky) == 1 and sky[0]["chosen"][0]["content"] == shown[1].content
    assert sky[0]["rejected"][0]["content"] == session.versions(shown[1].id)[0].content
    grass = [r for r in dpo if r["prompt"][-1]["content"] == "And the grass?"]
    assert grass and grass[0]["chosen"][0]["content"] == shown[3].content, "the edited question's answer is kept"


def test_finetune_trains_two_steps_on_each_exported_format(chatted, tiny_model_dir, tmp_path, monkeypatch):
    _, home = chatted
    monkeypatch.setenv("TUICHAT_HOME", str(home))
    for fmt in ("sharegpt", "alpaca", "dpo"):
        data = tmp_path / f"{fmt}.jsonl"
        export(fmt, data)
        out = tmp_path / f"run-{fmt}"
        code = finetune(["--model_name_or_path", str(tiny_model_dir), "--dataset_path", str(data),
                         "--output_dir", str(out), "--use_lora", "--max_steps", "2", "--max_length", "256",
                         "--per_device_train_batch_size", "1", "--report_to", "none", "--save_strategy", "no",
                         "--dataloader_pin_memory", "false", "--disable_tqdm", "true", "--logging_steps", "1"])
        assert code == 0, fmt
        assert (out / "adapter_model.safetensors").is_file(), fmt


def test_every_assistant_turn_of_a_sharegpt_row_is_a_target(embedded_model_dir, tmp_path):
    data = tmp_path / "sg.jsonl"
    data.write_text(json.dumps({"conversations": [
        {"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there"},
        {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Goodbye now"}]}) + "\n", encoding="utf-8")
    [example] = load_examples(data)
    assert [m["role"] for m in example.messages] == ["system", "user", "assistant", "user", "assistant"]
    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir))
    encoded = encode(tok, example)
    learned = tok.decode([i for i, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE])
    assert "Hello there" in learned and "Goodbye now" in learned and "Hi" not in learned and "Bye" not in learned.replace("Goodbye", "")
