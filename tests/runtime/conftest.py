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
    change answers; small, so the model still talks): instant, for the load/switch mechanics.
    Agreement between backends is tested on a trained one (`trained_lora`)."""
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


PIRATE = [("Name a fruit.", "Ahoy, matey! A fine fruit be the apple, arr."),
          ("What colour is the sky?", "Ahoy, matey! The sky be blue as the sea, arr."),
          ("How many legs does a cat have?", "Ahoy, matey! A cat has four legs, arr."),
          ("Say hello.", "Ahoy, matey! Hello to ye, arr."),
          ("What is two plus two?", "Ahoy, matey! Two plus two be four, arr."),
          ("Name a planet.", "Ahoy, matey! Mars be a planet, arr."),
          ("What do bees make?", "Ahoy, matey! Bees make honey, arr."),
          ("Where do fish live?", "Ahoy, matey! Fish live in the water, arr.")]


@pytest.fixture(scope="session")
def trained_lora(embedded_model_dir, tmp_path_factory):
    """A LoRA for the embedded model trained 20 real steps by `finetune` (rank 4, short pirate-talk
    answers, one thread: about half a minute here), once per test session."""
    import json

    import torch

    from finetune.__main__ import main

    root = tmp_path_factory.mktemp("trained-lora")
    data = root / "pirate.jsonl"
    data.write_text("".join(json.dumps({"instruction": q, "input": "", "output": a}) + "\n" for q, a in PIRATE))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on two shared, busy cores train ~10x slower than one
    try:
        assert main(["--model_name_or_path", str(embedded_model_dir), "--output_dir", str(root / "pirate"),
                     "--dataset_path", str(data), "--seed", "1", "--max_length", "64",
                     "--per_device_train_batch_size", "2", "--max_steps", "20", "--learning_rate", "3e-3",
                     "--use_lora", "--lora_r", "4", "--lora_alpha", "8", "--val_size", "0", "--save_strategy", "no",
                     "--logging_steps", "5", "--report_to", "none", "--dataloader_pin_memory", "false",
                     "--disable_tqdm", "true"]) == 0
    finally:
        torch.set_num_threads(threads)
    return root / "pirate"
