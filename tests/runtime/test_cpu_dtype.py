"""The CPU dtype (and whether packed 4-bit weights pay) is chosen by measured speed, once per
machine, and --dtype still wins."""
import json

import pytest
import torch

from tuichat.runtime import cpu_dtype, models, packed_weights


@pytest.fixture
def cache(tmp_path, monkeypatch):
    file = tmp_path / "cpu-dtype.json"
    monkeypatch.setattr(cpu_dtype, "_cache_file", lambda: file)
    return file


def test_measured_once_then_read_from_the_cache(cache, monkeypatch):
    calls = []
    measured = {"float32": 2.0, "bfloat16": 1.0, "int4_speedup": 3.0, "method": cpu_dtype._METHOD}
    monkeypatch.setattr(cpu_dtype, "measure", lambda: calls.append(1) or measured)
    assert cpu_dtype.fastest() is torch.bfloat16
    assert cpu_dtype.fastest() is torch.bfloat16 and cpu_dtype.int4_pays()
    assert calls == [1] and json.loads(cache.read_text())["bfloat16"] == 1.0


@pytest.mark.skipif(not packed_weights.kernel_available(), reason="this torch has no int4 CPU kernel")
@pytest.mark.parametrize("old", [
    {"float32": 2.0, "bfloat16": 1.0},  # before the int4 measurement
    {"float32": 2.0, "bfloat16": 1.0, "int4_speedup": 3.0},  # two threads, median of single products
])
def test_a_cache_from_an_earlier_way_of_measuring_is_measured_again(cache, monkeypatch, old):
    cache.write_text(json.dumps(old))
    fresh = {"float32": 2.0, "bfloat16": 3.0, "int4_speedup": 1.2, "method": cpu_dtype._METHOD}
    monkeypatch.setattr(cpu_dtype, "measure", lambda: fresh)
    assert not cpu_dtype.int4_pays() and cpu_dtype.fastest() is torch.float32
    assert json.loads(cache.read_text()) == fresh


@pytest.mark.parametrize("timings, expected", [
    ({"float32": 1.0, "bfloat16": 0.5, "int4_speedup": 1.0}, torch.bfloat16),
    ({"float32": 1.0, "bfloat16": 0.95, "int4_speedup": 1.0}, torch.float32),  # a near tie keeps fp32's exact arithmetic
    ({"float32": 0.5, "bfloat16": 1.0, "int4_speedup": 1.0}, torch.float32),
])
def test_the_faster_dtype_is_chosen_and_dtype_flag_wins(cache, timings, expected):
    cache.write_text(json.dumps({**timings, "method": cpu_dtype._METHOD}))
    assert models.pick_dtype("cpu") is expected
    assert models.pick_dtype("cpu", "float32") is torch.float32
    assert models.pick_dtype("cpu", "int4") is torch.float32  # loaded in fp32; the runtime packs what is 4-bit


def test_measure_times_both_dtypes_and_the_int4_kernel():
    timings = cpu_dtype.measure()
    kinds = {"float32", "bfloat16", "method"} | ({"int4_speedup"} if packed_weights.kernel_available() else set())
    assert set(timings) == kinds and all(t > 0 for t in timings.values())
