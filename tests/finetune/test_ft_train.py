"""Training smoke tests on the tiny model: LoRA and full runs, their outputs, and that tuichat and
plain PEFT/transformers load what they write."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from finetune.__main__ import main
from tuichat.runtime import adapter_files, models

SMALL = ["--max_length", "128", "--per_device_train_batch_size", "2", "--logging_steps", "1",
         "--report_to", "none", "--dataloader_pin_memory", "false", "--disable_tqdm", "true"]


def _train(tiny: Path, out: Path, *extra: str) -> int:
    return main(["--model_name_or_path", str(tiny), "--output_dir", str(out), *SMALL, *extra])


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ft") / "lora"
    code = _train(tiny_model_dir, out, "--use_lora", "--max_steps", "4", "--save_steps", "2",
                  "--save_total_limit", "1", "--learning_rate", "1e-2", "--val_size", "6")
    assert code == 0
    return out


def test_lora_run_writes_adapter_tokenizer_metadata_and_loss_files(lora_run, tiny_model_dir):
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja",
                 "loss.csv", "loss.xlsx", "loss.png"):
        assert (lora_run / name).is_file(), name
    assert [p.name for p in lora_run.glob("checkpoint-*")] == ["checkpoint-4"]  # save_total_limit 1
    meta = json.loads((lora_run / adapter_files.ADAPTER_META).read_text())
    base = models.load(str(tiny_model_dir)).model
    assert meta["base_fingerprint"] == adapter_files.base_fingerprint(base)
    assert meta["template"] == "chat_template" and meta["method"] == "lora"
    assert meta["data"]["train"] == 34 and meta["data"]["held_out"] == 6
    assert meta["result"]["global_step"] == 4 and meta["result"]["eval_loss_after"] is not None
    assert meta["args"]["training"]["learning_rate"] == 0.01
    rows = list(csv.DictReader((lora_run / "loss.csv").open()))
    assert [r["step"] for r in rows if r["loss"]] == ["1", "2", "3", "4"]
    assert rows[0]["step"] == "0" and rows[0]["eval_loss"]  # held-out loss before training


def test_adapter_loads_in_tuichat_and_plain_peft(lora_run, tiny_model_dir):
    import torch
    from peft import AutoPeftModelForCausalLM

    loaded = models.load(str(tiny_model_dir), adapter=str(lora_run), dtype="float32")
    assert loaded.adapter == lora_run.name
    plain = AutoPeftModelForCausalLM.from_pretrained(str(lora_run))
    ids = torch.tensor([[1, 2, 3, 4]])
    base = models.load(str(tiny_model_dir), dtype="float32").model
    with torch.no_grad():
        a, b, c = (m(input_ids=ids).logits for m in (loaded.model, plain, base))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)  # the adapter changed the model


def test_adapter_for_another_base_is_refused(lora_run, tmp_path):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from tuichat.errors import AdapterMismatchError

    tok = AutoTokenizer.from_pretrained(str(lora_run))
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(1)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "other")
    tok.save_pretrained(tmp_path / "other")
    with pytest.raises(AdapterMismatchError, match="was trained on tiny"):
        models.load(str(tmp_path / "other"), adapter=str(lora_run))


def test_finished_run_and_foreign_folders_are_not_overwritten(lora_run, tiny_model_dir, tmp_path, capsys):
    before = {p: p.stat().st_mtime_ns for p in lora_run.rglob("*")}
    assert _train(tiny_model_dir, lora_run, "--use_lora", "--max_steps", "4", "--save_steps", "2",
                  "--save_total_limit", "1", "--learning_rate", "1e-2", "--val_size", "6") == 2
    assert "already holds this finished run" in capsys.readouterr().err
    assert _train(tiny_model_dir, lora_run, "--max_steps", "1") == 2
    assert "holds another run" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in lora_run.rglob("*")} == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert _train(tiny_model_dir, foreign, "--max_steps", "1", "--overwrite_output_dir", "true") == 2
    assert "holds no finetune run" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_full_finetune_writes_a_model_tuichat_loads(tiny_model_dir, tmp_path):
    import torch

    out = tmp_path / "full"
    assert _train(tiny_model_dir, out, "--max_steps", "2", "--learning_rate", "1e-2", "--save_strategy", "no",
                  "--padding_free", "false") == 0
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    tuned, base = models.load(str(out), dtype="float32"), models.load(str(tiny_model_dir), dtype="float32")
    assert tuned.tokenizer.pad_token == "<|endoftext|>"
    w = lambda m: m.model.model.layers[0].mlp.up_proj.weight  # noqa: E731
    assert not torch.allclose(w(tuned), w(base))
    meta = json.loads((out / adapter_files.ADAPTER_META).read_text())
    assert meta["method"] == "full" and meta["result"]["global_step"] == 2


def test_lora_with_gradient_checkpointing_trains(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "gc"
    assert _train(tiny_model_dir, out, "--use_lora", "--max_steps", "1", "--learning_rate", "1e-2",
                  "--gradient_checkpointing", "true", "--save_strategy", "no") == 0
    weights = load_file(str(out / "adapter_model.safetensors"))
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: it got gradients


def test_untrainable_dataset_is_refused_before_training(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"instruction": "word " * 200, "input": "", "output": "ok"}) + "\n")
    assert _train(tiny_model_dir, tmp_path / "o", "--dataset_path", str(data), "--max_length", "64") == 2
    assert "row 1 would keep no response token" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
