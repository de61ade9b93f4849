"""Every available backend on the same model (the embedded SmolLM2): transformers on the converted
folder, llama.cpp on the GGUF file itself. A backend that is not installed is skipped, not failed."""
from __future__ import annotations

import pytest

BACKENDS = ["transformers", "llamacpp"]


@pytest.fixture(scope="session")
def transformers_runtime(embedded_model_dir):
    from tuichat.runtime.transformers_backend import Engine

    return Engine.load(str(embedded_model_dir), device="cpu", dtype="float32", progress=lambda _t: None)


@pytest.fixture(scope="session")
def llamacpp_runtime():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/setup.sh builds it)")
    from tuichat.runtime.llamacpp_backend import LlamaCppRuntime
    from tuichat.runtime.models import embedded_gguf

    return LlamaCppRuntime.load(embedded_gguf(), n_ctx=2048)


@pytest.fixture(params=BACKENDS)
def runtime(request):
    """One test, run against each backend in turn (each left on its base model, cache cleared)."""
    rt = request.getfixturevalue(f"{request.param}_runtime")
    rt.set_adapter(None)
    rt.reset()
    return rt


@pytest.fixture(scope="session")
def embedded_loras(embedded_model_dir, tmp_path_factory):
    """Two PEFT LoRAs for the embedded model with small random weights (B is not zero, so they
    change answers; small, so the model still talks: a stand-in for a LoRA trained a few steps,
    which takes minutes on two shared cores)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("embedded-loras")
    paths = []
    for seed, name in ((1, "alpha"), (2, "beta")):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(str(embedded_model_dir))
        config = LoraConfig(r=8, lora_alpha=16, init_lora_weights=False,
                            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        peft_model = get_peft_model(model, config)
        peft_model.save_pretrained(str(root / name))
        paths.append(root / name)
    return paths
