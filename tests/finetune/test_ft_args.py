"""Command-line and config-file arguments."""
from __future__ import annotations

import json

import pytest

from finetune.__main__ import main
from finetune.args import parse_args
from tuichat.errors import ConfigError

# The seed's command, flag for flag (model and data paths aside).
SEED_FLAGS = (
    "--num_train_epochs 3 --per_device_train_batch_size 2 --logging_dir logs --logging_steps 10 --save_steps 500 "
    "--save_total_limit 1 --learning_rate 5e-5 --gradient_accumulation_steps 8 --adam_epsilon 1e-8 "
    "--lr_scheduler_type linear --report_to none --remove_unused_columns False --eval_strategy no "
    "--gradient_clip_val 1.0 --data_loader_num_workers 2"
).split()


def test_seed_command_parses_with_aliases(tmp_path):
    args = parse_args(["--dataset_path", "train.csv", "--output_dir", str(tmp_path / "out"), *SEED_FLAGS])
    t = args.training
    assert (t.num_train_epochs, t.per_device_train_batch_size, t.gradient_accumulation_steps) == (3, 2, 8)
    assert (t.max_grad_norm, t.dataloader_num_workers, t.save_total_limit) == (1.0, 2, 1)
    assert args.method.logging_dir == "logs"
    assert args.data.dataset_path == "train.csv"
    assert args.model.model_name_or_path is None  # the embedded model
    assert any("--gradient_clip_val is read as --max_grad_norm" in n for n in args.notes)


def test_lora_defaults_target_all_linear_layers(tmp_path):
    args = parse_args(["--output_dir", str(tmp_path), "--use_qlora"])
    assert args.method.use_lora and args.method.lora_target_modules == ["all-linear"]


def test_config_file_with_flags_overriding(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("output_dir: out\nlearning_rate: 0.001\nuse_lora: true\nlora_target_modules: [q_proj, v_proj]\n")
    args = parse_args([str(config), "--learning_rate", "0.01"])
    assert args.training.learning_rate == 0.01 and args.method.use_lora
    assert args.method.lora_target_modules == ["q_proj", "v_proj"]
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps({"output_dir": "out", "max_length": 256}))
    assert parse_args(["--config", str(as_json)]).data.max_length == 256


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--output_dir", "x", "--learning_rat", "1"], r"unknown argument --learning_rat \(did you mean --learning_rate\?\)"),
        (["--dataset_path", "d.csv"], "--output_dir is required"),
        (["--output_dir", "x", "--length_strategy", "cut"], "--length_strategy must be one of truncate, drop"),
    ],
)
def test_bad_arguments_raise_config_errors(argv, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_args(argv)


def test_entry_point_prints_one_line_error_and_exits_2(tmp_path, capsys):
    assert main(["--output_dir", str(tmp_path / "o"), "--bogus_flag"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("finetune: error: unknown argument --bogus_flag") and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_shipped_example_config_parses():
    from pathlib import Path

    config = Path(__file__).resolve().parents[2] / "finetune" / "configs" / "lora_alpaca.yaml"
    args = parse_args([str(config)])
    assert args.method.use_lora and args.method.lora_r == 16 and args.training.learning_rate == 3e-4
    assert args.data.val_size == 0.1
