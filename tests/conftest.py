"""Shared fixtures. Every test runs with TUICHAT_HOME pointed at a fresh temp dir and the hub offline,
so no test reads or writes the developer's own config, data or cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
# Converted models are shared across tests and runs (converting the embedded GGUF takes ~20 s).
MODEL_CACHE = REPO / ".tuichat-test-cache" / "models"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["TUICHAT_MODEL_CACHE"] = str(MODEL_CACHE)


@pytest.fixture(autouse=True)
def tuichat_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "tuichat-home"
    monkeypatch.setenv("TUICHAT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data samples not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The embedded SmolLM2 converted to a safetensors folder (once per cache)."""
    from tuichat.runtime.models import resolve_model

    return resolve_model(None, progress=lambda _t: None)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_model_dir) -> Path:
    """A randomly initialised 2-layer Llama (SmolLM2's architecture family) with SmolLM2's real
    tokenizer and chat template: real code paths, milliseconds per token."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir))
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def fake_session(tuichat_home):
    """ChatSession factory on FakeRuntime (no model): for session logic that does not depend on it."""
    from fake_runtime import FakeRuntime
    from tuichat.core.config import Settings
    from tuichat.core.history import History
    from tuichat.core.session import ChatSession
    from tuichat.personas.library import PersonaLibrary

    def make(answers: list[str] | None = None, persona: str | None = None, history=None, **settings):
        values = {"knowledge": False, "context_budget": 4096, **settings}
        return ChatSession(FakeRuntime(answers), history or History(), PersonaLibrary(), None,
                           Settings(**values), persona=persona)

    return make
