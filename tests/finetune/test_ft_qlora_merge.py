"""QLoRA (bitsandbytes NF4 runs on CPU) on the tiny model, then `merge` into the un-quantised base."""
from __future__ import annotations

import json

import pytest

from finetune.__main__ import main
from tuichat.runtime import adapter_files, models

pytest.importorskip("bitsandbytes")


def test_qlora_trains_and_merges_into_the_full_precision_base(tiny_model_dir, tmp_path):
    import torch

    out = tmp_path / "qlora"
    code = main(["--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out), "--use_qlora",
                 "--max_steps", "2", "--learning_rate", "5e-2", "--max_length", "128", "--save_strategy", "no",
                 "--per_device_train_batch_size", "2", "--report_to", "none", "--dataloader_pin_memory", "false",
                 "--disable_tqdm", "true"])
    assert code == 0
    meta = json.loads((out / adapter_files.ADAPTER_META).read_text())
    assert meta["method"] == "qlora" and meta["result"]["global_step"] == 2
    merged_dir = tmp_path / "merged"
    assert main(["merge", "--adapter", str(out), "--output_dir", str(merged_dir)]) == 0
    assert (merged_dir / "model.safetensors").is_file() and not (merged_dir / "adapter_config.json").exists()
    with_adapter = models.load(str(tiny_model_dir), adapter=str(out), dtype="float32").model  # fp32 base + adapter
    merged = models.load(str(merged_dir), dtype="float32").model
    base = models.load(str(tiny_model_dir), dtype="float32").model
    ids = torch.tensor([[1, 5, 9, 200, 3000]])
    with torch.no_grad():
        a, b, c = (m(input_ids=ids).logits for m in (with_adapter, merged, base))
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(b, c)
    # Merging again into the same folder is refused rather than overwriting it.
    assert main(["merge", "--adapter", str(out), "--output_dir", str(merged_dir)]) == 2


def test_qlora_without_bitsandbytes_fails_clearly_and_writes_nothing(tiny_model_dir, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import now raises ImportError
    out = tmp_path / "q"
    assert main(["--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out), "--use_qlora",
                 "--max_steps", "1", "--max_length", "128"]) == 2
    assert "--use_qlora needs bitsandbytes, which cannot run here" in capsys.readouterr().err
    assert not out.exists()
