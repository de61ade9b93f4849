"""Warmed prefixes kept on disk (prefix_store.py): a new runtime on the same GGUF reads a stored
prefix back instead of prefilling it and answers exactly as a cold prefill does; damaged, foreign
or outgrown files are dropped, never trusted."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (scripts/setup.sh builds it)")

from tuichat.runtime import prefix_store  # noqa: E402
from tuichat.runtime.base import GenerationParams  # noqa: E402
from tuichat.runtime.llamacpp_backend import LlamaCppRuntime  # noqa: E402
from tuichat.runtime.models import embedded_gguf  # noqa: E402
from tuichat.runtime.prefix_store import PrefixStore  # noqa: E402

GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_new_tokens=12)
START = [{"role": "system", "content": "You are a patient maths tutor who explains each step. " * 4},
         {"role": "assistant", "content": "Hello! Which problem shall we look at?"}]
QUESTION = START + [{"role": "user", "content": "What is 17 times 3?"}]


def test_store_finds_the_longest_stored_prefix_and_keeps_its_bytes(tmp_path):
    store = PrefixStore(tmp_path / "model")
    short, long = list(range(20)), list(range(40))
    store.save(short, b"short-state")
    store.save(long, b"long-state")
    store.save(list(range(5)), b"too short to keep")
    assert len(list(store.folder.glob("*.kv"))) == 2
    again = PrefixStore(store.folder)  # a new process: the index is read from the files
    found = again.longest(list(range(50)))
    assert found.ids == tuple(long) and found.read_state() == b"long-state"
    assert again.longest(list(range(30))).ids == tuple(short)
    assert again.longest(list(range(50)), shorter_than=39).ids == tuple(short)
    assert again.longest([0, 1, 2, 99] + list(range(4, 50))) is None  # differs inside every prefix


def test_store_drops_unreadable_files_and_the_least_recently_used(tmp_path, monkeypatch):
    store = PrefixStore(tmp_path / "one" / "model")
    store.save(list(range(30)), b"x" * 100)
    (store.folder / "broken.kv").write_bytes(b"\x05")
    assert PrefixStore(store.folder).longest(list(range(30))) is not None
    assert not (store.folder / "broken.kv").exists()

    lru = PrefixStore(tmp_path / "two" / "model")
    first, second, third = ([n] * 20 for n in (1, 2, 3))
    lru.save(first, b"a" * 180)
    (oldest,) = lru.folder.glob("*.kv")
    os.utime(oldest, (1, 1))  # used long ago
    monkeypatch.setattr(prefix_store, "MAX_BYTES", oldest.stat().st_size * 5 // 2)  # room for two
    lru.save(second, b"b" * 180)
    lru.save(third, b"c" * 180)
    assert sorted(ids[0] for ids in PrefixStore(lru.folder)._entries().values()) == [2, 3]


def test_a_changed_model_file_has_its_own_store(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"v1")
    before = PrefixStore.for_model(model, "0.3", "cpu", "base", root=tmp_path / "kv")
    model.write_bytes(b"v2 longer")
    assert PrefixStore.for_model(model, "0.3", "cpu", "base", root=tmp_path / "kv").folder != before.folder
    assert PrefixStore.for_model(model, "0.3", "cpu", "lora.gguf", root=tmp_path / "kv").folder != before.folder


@pytest.fixture
def fresh_runtime():
    """A new runtime per call, as a new process gets (same file, same home)."""
    return lambda: LlamaCppRuntime.load(embedded_gguf(), n_ctx=1024)


def test_a_new_runtime_reads_the_warmed_start_back_and_answers_as_a_cold_prefill(fresh_runtime):
    first = fresh_runtime()
    first.keep_prefixes_on_disk = False
    cold = first.stream(QUESTION, GREEDY).wait()
    start = first.prompt_ids(QUESTION)[:len(first.prompt_ids(QUESTION)) - 12]
    first.keep_prefixes_on_disk = True
    first.reset()
    first.warm(lambda: start)
    assert first.wait_warm(120)

    second = fresh_runtime()
    answer = second.stream(QUESTION, GREEDY).wait()
    assert answer.stats.reused_tokens == len(start) and cold.stats.reused_tokens == 0
    assert answer.text == cold.text and answer.stats.new_tokens == cold.stats.new_tokens > 0


def test_a_damaged_state_is_deleted_and_the_prompt_prefilled(fresh_runtime):
    first = fresh_runtime()
    ids = first.prompt_ids(QUESTION)
    first.warm(lambda: ids[:-12])
    assert first.wait_warm(120)
    cold = first.stream(QUESTION, GREEDY).wait().text
    store = first._store()
    (path,) = store.folder.glob("*.kv")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # cut off mid-state

    second = fresh_runtime()
    answer = second.stream(QUESTION, GREEDY).wait()
    assert answer.stats.reused_tokens == 0 and answer.text == cold and not path.exists()


def test_a_model_file_moved_away_while_loaded_still_answers(tmp_path):
    import shutil

    copy = shutil.copy(embedded_gguf(), tmp_path / "model.gguf")
    runtime = LlamaCppRuntime.load(copy, n_ctx=1024)
    os.rename(copy, tmp_path / "renamed.gguf")
    answer = runtime.stream(QUESTION, GREEDY).wait()
    assert answer.stats.new_tokens > 0 and answer.stats.reused_tokens == 0
