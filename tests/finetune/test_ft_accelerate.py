"""`accelerate launch -m finetune` with the shipped configs: DDP on 2 CPU processes (gloo) from the
same file a GPU machine uses; one adapter, one loss.csv, and the same files as a single process."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune.serving import serve_commands
from tuichat.runtime import adapter_files

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "finetune" / "configs"
TRAIN = ["--use_lora", "--num_train_epochs", "1", "--max_length", "128", "--max_steps", "3", "--save_strategy", "no",
         "--logging_steps", "1", "--report_to", "none", "--use_cpu", "true", "--dataloader_pin_memory", "false",
         "--disable_tqdm", "true"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _loss_steps(folder: Path) -> list[str]:
    with (folder / "loss.csv").open(encoding="utf-8") as f:
        return [row["step"] for row in csv.DictReader(f) if row["loss"]]


def test_shipped_configs_are_valid_accelerate_configs():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {}
    for name in ("accelerate_ddp", "accelerate_fsdp", "accelerate_deepspeed_zero2", "accelerate_deepspeed_zero3"):
        config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
        kinds[name] = str(config.distributed_type).split(".")[-1]
    assert kinds == {"accelerate_ddp": "MULTI_GPU", "accelerate_fsdp": "FSDP",
                     "accelerate_deepspeed_zero2": "DEEPSPEED", "accelerate_deepspeed_zero3": "DEEPSPEED"}


def _launch(config: str, port: str, model: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / f"{config}.yaml"),
           "--main_process_port", port, "-m", "finetune", "--model_name_or_path", str(model),
           "--output_dir", str(out), "--per_device_train_batch_size", "4", *TRAIN]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=420, cwd=out.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def ddp_run(tiny_model_dir, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("accelerate") / "ddp"
    return out, _launch("accelerate_ddp", "29541", tiny_model_dir, out).stderr


def test_accelerate_ddp_two_cpu_ranks_write_what_one_process_writes(ddp_run, tiny_model_dir, tmp_path):
    ddp, log = ddp_run
    assert "rank 0/2: trained 3 steps" in log and "rank 1/2: trained 3 steps" in log
    assert log.count("Done: 3 steps") == 1 and log.count("vllm serve") == 1
    assert f"--lora-modules ddp={ddp}" in log and "--adapter ddp" in log
    meta = json.loads((ddp / adapter_files.ADAPTER_META).read_text())
    assert meta["result"]["world_size"] == 2 and meta["result"]["global_step"] == 3

    single = tmp_path / "single"
    one = [sys.executable, "-m", "finetune", "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(single),
           "--per_device_train_batch_size", "8", *TRAIN]  # the same global batch in one process
    proc = subprocess.run(one, env=_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in single.iterdir())
    assert _loss_steps(ddp) == _loss_steps(single) == ["1", "2", "3"]


def test_accelerate_fsdp_full_shard_on_two_cpu_ranks_trains_the_same_adapter(ddp_run, tiny_model_dir, tmp_path):
    """FSDP2 full shard over gloo on CPU (torch 2.13 supports it): the gathered adapter equals DDP's."""
    from safetensors.torch import load_file

    fsdp = tmp_path / "fsdp"
    log = _launch("accelerate_fsdp", "29543", tiny_model_dir, fsdp).stderr
    assert log.count("Done: 3 steps") == 1 and "rank 1/2: trained 3 steps" in log
    assert sorted(p.name for p in fsdp.iterdir()) == sorted(p.name for p in ddp_run[0].iterdir())
    sharded, replicated = (load_file(str(d / "adapter_model.safetensors")) for d in (fsdp, ddp_run[0]))
    assert sharded.keys() == replicated.keys()
    assert all(torch_allclose(sharded[k], replicated[k]) for k in sharded)
    assert any(float(v.abs().max()) > 0 for k, v in sharded.items() if "lora_B" in k)  # it did train


def torch_allclose(a, b) -> bool:
    import torch

    return torch.allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rank,flag", [(8, ""), (16, ""), (24, " --max-lora-rank 32")])
def test_vllm_serve_command_for_an_adapter(tmp_path, rank, flag):
    out = tmp_path / "my run"
    serve, chat = serve_commands(out, "/models/base", "SmolLM2-135M-Instruct", rank)
    assert serve == (f"vllm serve /models/base --served-model-name SmolLM2-135M-Instruct --enable-lora "
                     f"--lora-modules '{out.name}={out}'{flag}")
    assert chat.endswith("--model SmolLM2-135M-Instruct --adapter 'my run'")
    serve, chat = serve_commands(tmp_path / "full", "/models/base", "base", None)
    assert serve == f"vllm serve {tmp_path / 'full'} --served-model-name full" and chat.endswith("--model full")
