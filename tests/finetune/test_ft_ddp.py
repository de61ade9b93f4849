"""The same command under torchrun: 2 CPU processes (gloo) share the data, one output is written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tuichat.runtime import models

REPO = Path(__file__).resolve().parents[2]


def test_torchrun_two_cpu_ranks_train_and_write_once(tiny_model_dir, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "finetune", "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out), "--use_lora",
           "--num_train_epochs", "1", "--per_device_train_batch_size", "4", "--max_length", "128",
           "--save_strategy", "no", "--logging_steps", "1", "--report_to", "none", "--use_cpu", "true",
           "--dataloader_pin_memory", "false", "--disable_tqdm", "true"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=420, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 40 sample rows, 4 per rank per step, 2 ranks: 5 steps (a single process would take 10).
    assert "rank 0/2: trained 5 steps" in proc.stderr and "rank 1/2: trained 5 steps" in proc.stderr
    assert proc.stderr.count("Done: 5 steps") == 1  # only the main process writes and reports
    meta = json.loads((out / models.ADAPTER_META).read_text())
    assert meta["result"]["world_size"] == 2 and meta["result"]["global_step"] == 5
    assert (out / "adapter_model.safetensors").is_file() and (out / "loss.csv").is_file()
