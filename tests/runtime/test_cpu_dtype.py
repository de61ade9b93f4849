"""The CPU dtype is chosen by measured speed, once per machine, and --dtype still wins."""
import json

import pytest
import torch

from tuichat.runtime import cpu_dtype, models


@pytest.fixture
def cache(tmp_path, monkeypatch):
    file = tmp_path / "cpu-dtype.json"
    monkeypatch.setattr(cpu_dtype, "_cache_file", lambda: file)
    return file


def test_measured_once_then_read_from_the_cache(cache, monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_dtype, "measure", lambda: calls.append(1) or {"float32": 2.0, "bfloat16": 1.0})
    assert cpu_dtype.fastest() is torch.bfloat16
    assert cpu_dtype.fastest() is torch.bfloat16
    assert calls == [1] and json.loads(cache.read_text())["bfloat16"] == 1.0


@pytest.mark.parametrize("timings, expected", [
    ({"float32": 1.0, "bfloat16": 0.5}, torch.bfloat16),
    ({"float32": 1.0, "bfloat16": 0.95}, torch.float32),  # a near tie keeps fp32's exact arithmetic
    ({"float32": 0.5, "bfloat16": 1.0}, torch.float32),
])
def test_the_faster_dtype_is_chosen_and_dtype_flag_wins(cache, timings, expected):
    cache.write_text(json.dumps(timings))
    assert models.pick_dtype("cpu") is expected
    assert models.pick_dtype("cpu", "float32") is torch.float32


def test_measure_times_both_dtypes():
    timings = cpu_dtype.measure()
    assert set(timings) == {"float32", "bfloat16"} and all(t > 0 for t in timings.values())
