"""The before/after table from two tiny models, the CLI end to end, the cache and bad input."""
from __future__ import annotations

import csv
import json

from finetune.eval import report
from finetune.eval.cache import model_identity
from finetune.eval.__main__ import main
from finetune.eval.runner import EvalSettings, ModelUnderTest, evaluate


def _under_test(path, label):
    from tuichat.runtime.models import load

    loaded = load(str(path), dtype="float32", progress=lambda _t: None)
    return ModelUnderTest(loaded.model, loaded.tokenizer, label, model_identity(loaded), dtype=loaded.dtype)


def test_table_from_two_tiny_models(tiny_model_dir, tiny_perturbed_dir, mini_data, tmp_path):
    settings = EvalSettings(mini_data, num_fewshot=0, progress=False)
    tasks = ["arc_easy", "boolq", "winogrande", "mmlu"]
    before = evaluate(_under_test(tiny_model_dir, "base"), tasks, settings)
    after = evaluate(_under_test(tiny_perturbed_dir, "tuned"), tasks, settings)
    # Same base fingerprint (embeddings untouched) but other weights: the cache must not hand the
    # base's results to the perturbed model.
    assert not after["boolq"]["cached"]
    assert before["boolq"]["loglikelihoods"] != after["boolq"]["loglikelihoods"]

    text = report.write_all(tmp_path / "out", before, after, ("before", "after"), {})
    rows = report.summary_rows(before, after)
    by_key = {(r.task, r.metric): r for r in rows}
    assert set(by_key) >= {("arc_easy", "acc"), ("arc_easy", "acc_norm"), ("boolq", "acc"), ("winogrande", "acc"),
                           ("mmlu (weighted)", "acc"), ("mmlu/stem", "acc")}
    mmlu = by_key[("mmlu (weighted)", "acc")]
    assert mmlu.n == 3  # question-weighted over both subjects (2 + 1 questions)
    assert mmlu.before == round(100 * before["mmlu"]["metrics"]["acc"], 2)
    for r in rows:
        assert r.delta == r.after - r.before
    subjects = report.subject_rows(before, after)
    assert [r.task for r in subjects] and [r.delta for r in subjects] == sorted((r.delta for r in subjects), reverse=True)

    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"results.md", "results.csv", "mmlu_subjects.csv", "results.xlsx",
                                               "results.json", "deltas.png"}
    assert "| task | metric | n | before | after | delta |" in text and "MMLU per subject" in text
    with (out / "results.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    from openpyxl import load_workbook

    book = load_workbook(out / "results.xlsx")
    assert book.sheetnames == ["summary", "mmlu_subjects"] and book["summary"].max_row == len(rows) + 1
    assert (out / "deltas.png").read_bytes()[:4] == b"\x89PNG"


def _lora_adapter(base_dir, out_dir, seed):
    """A LoRA adapter that changes the outputs (B initialised non-zero)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(out_dir)
    return out_dir


def test_cli_before_after_reuses_base_and_invalidates_on_adapter_change(tiny_model_dir, mini_data, tmp_path, capsys):
    # 2-shot MMLU: the subject's shared prefix goes through the key/value cache of the PEFT model too.
    adapter = _lora_adapter(tiny_model_dir, tmp_path / "adapter", seed=1)
    argv = ["--model", str(tiny_model_dir), "--adapter", str(adapter), "--dtype", "float32", "--tasks",
            "arc_easy,mmlu", "--data-dir", str(mini_data), "--quiet", "--num-fewshot", "2"]

    def run(name):
        assert main(argv + ["--output", str(tmp_path / name)]) == 0
        return json.loads((tmp_path / name / "results.json").read_text())

    first = run("one")
    assert not first["before"]["arc_easy"]["cached"] and not first["after"]["arc_easy"]["cached"]
    assert first["before"]["arc_easy"]["cache_key"] != first["after"]["arc_easy"]["cache_key"]
    second = run("two")
    assert second["before"]["mmlu"]["cached"] and second["after"]["mmlu"]["cached"]

    _lora_adapter(tiny_model_dir, adapter, seed=2)  # retrained in place: same path, new weights
    third = run("three")
    assert third["before"]["arc_easy"]["cached"]  # base and data unchanged: reused
    assert not third["after"]["arc_easy"]["cached"]
    assert third["after"]["arc_easy"]["cache_key"] != first["after"]["arc_easy"]["cache_key"]
    assert "| task | metric | n | before | after | delta |" in capsys.readouterr().out


def test_cli_bad_file_skips_only_that_task(tiny_model_dir, mini_data, tmp_path, capsys):
    arc = mini_data / "arc" / "ARC-Easy-Test.jsonl"
    arc.write_text(arc.read_text() + '{"question":{"stem":"Q?","choices":[]},"answerKey":"A"}\n')
    (mini_data / "boolq" / "val.jsonl").unlink()
    code = main(["--model", str(tiny_model_dir), "--tasks", "arc_easy,boolq,winogrande", "--data-dir", str(mini_data),
                 "--output", str(tmp_path / "out"), "--quiet", "--no-cache"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{arc}: row 4: needs at least two choices" in err and "val.jsonl: file not found" in err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "error" in results["before"]["arc_easy"] and results["before"]["winogrande"]["n"] == 2


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "nowhere"), "--tasks", "arc_easy"]) == 2
    assert "finetune-eval: error: --data-dir" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path), "--tasks", "squad"]) == 2
    assert "unknown task(s) squad" in capsys.readouterr().err
