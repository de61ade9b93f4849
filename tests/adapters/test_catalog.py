"""Adapter discovery and provenance from real finetune runs; broken and foreign adapters; the swap."""
from __future__ import annotations

import json
import shutil

import pytest

from tuichat.adapters import catalog
from tuichat.adapters.catalog import AdapterProblem
from tuichat.adapters.switcher import AdapterSwitcher
from tuichat.runtime.base import GenerationParams

GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=12)
MESSAGES = [{"role": "user", "content": "Name three colours."}]


def test_runs_are_found_with_their_provenance(runs_dir, tiny_model_dir):
    found = {a.name: a for a in catalog.discover([runs_dir])}
    assert sorted(found) == ["alpha", "beta"]
    alpha = found["alpha"]
    assert alpha.problem == "" and alpha.method == "lora" and alpha.steps == 2
    assert alpha.base_model == tiny_model_dir.name and alpha.base_fingerprint
    assert alpha.rows == 36 and alpha.dataset.endswith("sample_instructions.jsonl")
    assert alpha.final_loss is not None and alpha.held_out_loss is not None and alpha.date[:2] == "20"
    line = alpha.provenance()
    assert "LORA" in line and "36 rows" in line and "2 steps" in line and "held-out" in line


def test_adapter_for_another_base_is_listed_with_the_reason(runs_dir, tiny_model_dir):
    found = catalog.mark_fit(catalog.discover([runs_dir]), "SmolLM2-135M-Instruct", "0" * 16)
    assert all(not a.usable for a in found)
    assert found[0].mismatch == f"trained on {tiny_model_dir.name}, not on SmolLM2-135M-Instruct"
    fitting = catalog.mark_fit(catalog.discover([runs_dir]), tiny_model_dir.name, found[0].base_fingerprint)
    assert all(a.usable for a in fitting)


def test_deleted_and_corrupt_adapters_are_one_clear_line(runs_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(runs_dir / "alpha", broken)
    (broken / "adapter_config.json").write_text('{"r": 4,', encoding="utf-8")
    gone = tmp_path / "gone"
    found = {a.name: a for a in catalog.discover([], [broken, gone])}
    assert found["broken"].problem.startswith(f"{broken / 'adapter_config.json'} is not valid JSON (line 1)")
    assert found["gone"].problem == f"adapter folder {gone} does not exist (deleted or moved?)"
    with pytest.raises(AdapterProblem, match="is not valid JSON"):
        catalog.check_adapter_folder(broken)


def test_same_folder_name_in_two_places_gets_distinct_names(runs_dir, tmp_path):
    other = tmp_path / "elsewhere" / "alpha"
    shutil.copytree(runs_dir / "alpha", other)
    names = sorted(a.name for a in catalog.discover([runs_dir, tmp_path / "elsewhere"]))
    assert names == ["beta", "elsewhere/alpha", "runs/alpha"]


def test_recent_models_list_and_models_dir(tiny_model_dir, tmp_path):
    catalog.remember_model(tiny_model_dir)
    catalog.remember_model(tmp_path / "not-a-model")  # remembered, but not listed: it is not a model
    models_dir = tmp_path / "models"
    (models_dir / "empty").mkdir(parents=True)
    (models_dir / "small.gguf").write_bytes(b"GGUF")
    listed = catalog.local_models(str(tiny_model_dir), str(models_dir))
    assert [(m.kind, m.current) for m in listed] == [("embedded", False), ("folder", True), ("gguf", False)]
    (catalog.paths.data_dir() / catalog.RECENT_FILE).write_text("{broken", encoding="utf-8")
    assert catalog.recent_models() == []


def test_swap_changes_the_greedy_answer_and_base_comes_back_exactly(tiny_model_dir, runs_dir):
    from tuichat.runtime.transformers_backend import Engine

    engine = Engine.load(str(tiny_model_dir), device="cpu", dtype="float32")
    switcher = AdapterSwitcher(engine)
    base = engine.generate(MESSAGES, GREEDY)[0]
    assert switcher.activate(runs_dir / "alpha") == "alpha"
    alpha = engine.generate(MESSAGES, GREEDY)[0]
    assert switcher.activate(runs_dir / "beta") == "beta"
    beta = engine.generate(MESSAGES, GREEDY)[0]
    assert len({base, alpha, beta}) == 3
    assert switcher.activate(None) is None and engine.generate(MESSAGES, GREEDY)[0] == base
    assert switcher.activate(runs_dir / "alpha") == "alpha" and engine.adapters() == ["alpha", "beta"]
    assert engine.generate(MESSAGES, GREEDY)[0] == alpha
    assert switcher.active_path == runs_dir / "alpha"


def test_plain_peft_adapter_fits_by_the_declared_base_name(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "base_model_name_or_path": "/m/Model-abc123"}')
    info = catalog.discover([], [folder])
    assert info[0].base_model == "Model-abc123" and info[0].method == "lora"
    assert catalog.mark_fit(info, "Model", "", ["Model-abc123"])[0].usable
    assert catalog.mark_fit(info, "Other", "", ["other-folder"])[0].mismatch == "made for Model-abc123, not for Other"
