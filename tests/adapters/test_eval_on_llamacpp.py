"""The in-app benchmark on a GGUF that llama.cpp runs: it scores a transformers copy of that file
(log-likelihoods need every position's logits), under the same cache key `finetune.eval --model
FILE.gguf` uses, so neither re-scores what the other did."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from finetune.eval import cache
from finetune.eval.__main__ import main as eval_main

REPO = Path(__file__).resolve().parents[2]
DATA = next((p for p in (REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data") if p.is_dir()), None)
pytestmark = pytest.mark.skipif(DATA is None, reason="public benchmark samples (../shared/data) not found")


def test_eval_of_a_llamacpp_model_shares_the_cli_cache(embedded_model_dir, capsys):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from tuichat.adapters.evals import EvalPlan, _base_identity, run_quick_eval
    from tuichat.runtime.llamacpp_backend import LlamaCppRuntime
    from tuichat.runtime.models import embedded_gguf

    runtime = LlamaCppRuntime.load(embedded_gguf(), n_ctx=512)
    plan = EvalPlan(("arc_easy",), 3, DATA, batch_size=3)
    seen: list[int] = []
    results = run_quick_eval(runtime, None, plan, threading.Event(), lambda done, total, task: seen.append(done))
    assert results["arc_easy"]["n"] == 3 and not results["arc_easy"].get("cached") and seen[-1] == 3
    # The picker finds the base's results without loading a copy: same identity and dtype as scored.
    from finetune.eval.cache import model_identity
    from tuichat.adapters.evals import _SCORING_COPY

    copy = next(iter(_SCORING_COPY.values()))
    assert _base_identity(runtime) == (model_identity(copy), copy.dtype)

    capsys.readouterr()
    code = eval_main(["--model", str(embedded_gguf()), "--tasks", "arc_easy", "--limit", "3",
                      "--data-dir", str(DATA), "--output", str(Path(cache.cache_root()).parent / "eval-out"), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "(cached)" in err and "(scored)" not in err
