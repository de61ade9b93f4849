"""Kill a LoRA run after a checkpoint, rerun the same command: it resumes and ends where an
uninterrupted run ends (same step count, same loss within tolerance)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from finetune.__main__ import main
from finetune.outputs import RUN_MARKER

REPO = Path(__file__).resolve().parents[2]
STEPS = 12


def _argv(tiny: Path, out: Path) -> list[str]:
    return ["--model_name_or_path", str(tiny), "--output_dir", str(out), "--use_lora", "--max_steps", str(STEPS),
            "--save_steps", "3", "--save_total_limit", "2", "--learning_rate", "5e-2", "--logging_steps", "1",
            "--per_device_train_batch_size", "2", "--max_length", "128", "--seed", "3", "--report_to", "none",
            "--dataloader_pin_memory", "false", "--disable_tqdm", "true"]


def _losses(out: Path) -> dict[int, float]:
    meta = json.loads((out / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    return {e["step"]: e["loss"] for e in meta["log_history"] if "loss" in e}


def test_killed_run_resumes_to_the_same_end(tiny_model_dir, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "finetune", *_argv(tiny_model_dir, out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint-3" / "trainer_state.json").is_file():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert json.loads((out / RUN_MARKER).read_text())["status"] == "running"
    assert not (out / "adapter_model.safetensors").exists()  # killed before the end
    assert main(_argv(tiny_model_dir, out)) == 0  # same command: auto-resume
    reference = tmp_path / "straight"
    assert main(_argv(tiny_model_dir, reference)) == 0
    resumed, straight = _losses(out), _losses(reference)
    assert max(resumed) == max(straight) == STEPS
    assert json.loads((out / RUN_MARKER).read_text())["result"]["global_step"] == STEPS
    moved = straight[1] - straight[STEPS]
    assert moved > 0.01  # the loss moved, so agreeing means something
    assert abs(resumed[STEPS] - straight[STEPS]) < 0.02 * moved
