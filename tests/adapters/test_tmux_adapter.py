"""End to end in a real terminal: the embedded model in tmux, f2 opens the picker, picking an adapter
found under ./runs changes the status bar. The adapter is a PEFT LoRA with random non-zero weights
(training the 135M model in a test would take too long on a shared CPU)."""
from __future__ import annotations

import os

import pytest
from test_tmux_e2e import TUICHAT, Tmux, pytestmark  # noqa: F401  (same skip rule: needs tmux)


def random_lora(base_dir, out):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(str(out))


@pytest.fixture
def tmux(embedded_model_dir, tuichat_home):
    session = Tmux(f"tuichat-adapter-{os.getpid()}")
    yield session
    session.close()


def test_pick_an_adapter_in_tmux_and_the_status_bar_shows_it(tmux, tuichat_home, embedded_model_dir, tmp_path):
    random_lora(embedded_model_dir, tmp_path / "runs" / "emb-lora")
    env = {"TUICHAT_HOME": str(tuichat_home), "TUICHAT_MODEL_CACHE": os.environ["TUICHAT_MODEL_CACHE"],
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = f"{TUICHAT} --no-knowledge; echo tuichat exited with $?; sleep 60"
    tmux.run("new-session", "-d", "-s", "app", "-x", "100", "-y", "30", "-c", str(tmp_path),
             *[arg for key, value in env.items() for arg in ("-e", f"{key}={value}")], command)
    first = tmux.wait_for(lambda s: s.lstrip().startswith("ready"), 180, "the model to load")
    assert "f2 Model" in first
    tmux.run("send-keys", "-t", "app", "F2")
    tmux.wait_for(lambda s: "emb-lora" in s and "base (no adapter)" in s, 60, "the picker to list the adapter")
    tmux.run("send-keys", "-t", "app", "Down")
    tmux.run("send-keys", "-t", "app", "Enter")
    status = tmux.wait_for(lambda s: s.lstrip().startswith("ready") and "+ emb-lora" in s.splitlines()[0], 60,
                           "the status bar to show the adapter")
    assert "SmolLM2-135M-Instruct + emb-lora" in status.splitlines()[0]
    tmux.run("send-keys", "-t", "app", "C-q")
    tmux.wait_for(lambda s: "tuichat exited with 0" in s, 30, "a clean exit")
