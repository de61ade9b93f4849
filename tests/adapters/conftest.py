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
