"""Fixtures for the benchmark-eval tests: the hand-written mini data folder and model variants."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MINI = Path(__file__).parent / "data" / "mini"


@pytest.fixture
def mini_data(tmp_path) -> Path:
    """A private copy of the mini data folder, so a test may break files in it."""
    return Path(shutil.copytree(MINI, tmp_path / "data"))


@pytest.fixture(scope="session")
def tiny_perturbed_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny model with noise added to every weight except the embeddings: another model with the
    same base fingerprint, standing in for a fine-tuned 'after'."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("tiny-perturbed")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "embed" not in name:
                param.add_(0.5 * torch.randn(param.shape, generator=generator))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir):
    from tuichat.runtime.models import load

    return load(str(tiny_model_dir), dtype="float32", progress=lambda _t: None)
