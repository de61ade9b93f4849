"""Two real tiny LoRA adapters on the tiny model, trained here through finetune's own entry point
(2 steps each at a high learning rate, so their greedy answers differ from the base and each other)."""
from __future__ import annotations

from pathlib import Path

import pytest

TRAIN = ["--max_length", "128", "--per_device_train_batch_size", "2", "--logging_steps", "1",
         "--report_to", "none", "--dataloader_pin_memory", "false", "--disable_tqdm", "true",
         "--use_lora", "--max_steps", "2", "--save_strategy", "no", "--learning_rate", "0.5",
         "--lora_r", "4", "--val_size", "4"]


def train_adapter(base: Path, out: Path, seed: int) -> Path:
    from finetune.__main__ import main

    assert main(["--model_name_or_path", str(base), "--output_dir", str(out), "--seed", str(seed), *TRAIN]) == 0
    return out


@pytest.fixture(scope="session")
def runs_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A `runs/` folder holding two finetune runs, `alpha` and `beta`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("project") / "runs"
    train_adapter(tiny_model_dir, root / "alpha", 1)
    train_adapter(tiny_model_dir, root / "beta", 2)
    torch.set_num_threads(threads)
    return root


UI_HELPERS = Path(__file__).resolve().parent.parent / "ui"
if str(UI_HELPERS) not in __import__("sys").path:
    __import__("sys").path.insert(0, str(UI_HELPERS))  # ui_helpers: wait_for, loaded, idle


@pytest.fixture(scope="module")
def adapter_engine(tiny_model_dir):
    """An Engine of its own (adapters get loaded into it; the UI tests' shared engine stays plain)."""
    import torch

    from tuichat.runtime.transformers_backend import Engine

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Engine.load(str(tiny_model_dir), device="cpu", dtype="float32")
    torch.set_num_threads(threads)


@pytest.fixture
def chat_settings():
    from tuichat.core.config import Settings

    return Settings(temperature=0.0, repetition_penalty=1.3, max_new_tokens=16, knowledge=False, context_budget=512)


@pytest.fixture
def project(runs_dir, monkeypatch):
    """Run from the folder that holds runs/ (where adapters are looked for)."""
    monkeypatch.chdir(runs_dir.parent)
    return runs_dir.parent


@pytest.fixture
def make_chat(adapter_engine, chat_settings, project):
    """(session, app) on the adapter engine, starting from the base model."""
    from dataclasses import replace

    from tuichat.core.history import History
    from tuichat.core.session import ChatSession
    from tuichat.personas.library import PersonaLibrary
    from tuichat.ui.app import make_app

    def make(personas_dirs=(), **overrides):
        adapter_engine.set_adapter(None)
        settings = replace(chat_settings, **overrides)
        session = ChatSession(adapter_engine, History(), PersonaLibrary(personas_dirs), None, settings)
        return session, make_app(lambda progress: session, settings)

    return make
