"""Benchmarks from inside the app fill finetune.eval's cache (the CLI then re-scores nothing), show
as deltas in the picker, and a cancelled run caches nothing half."""
from __future__ import annotations

from pathlib import Path

import pytest

from finetune.eval import cache
from finetune.eval.__main__ import main as eval_main
from tuichat.ui.screens.eval_setup import EvalSetupScreen
from ui_helpers import loaded, wait_for

REPO = Path(__file__).resolve().parents[2]
DATA = next((p for p in (REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data") if p.is_dir()), None)
pytestmark = pytest.mark.skipif(DATA is None, reason="public benchmark samples (../shared/data) not found")


def cached_entries() -> set[str]:
    return {p.stem for p in cache.cache_root().glob("*.json") if p.stem != "file-digests"}


async def run_eval(pilot, screen, tasks: str, limit: int) -> None:
    await pilot.press("f8")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, EvalSetupScreen), what="the eval dialog")
    dialog = pilot.app.screen
    dialog.query_one("#eval-tasks").value = tasks
    dialog.query_one("#eval-limit").value = str(limit)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, EvalSetupScreen), what="the dialog to close")
    await wait_for(pilot, lambda: screen._eval_cancel is None, timeout=120, what="the benchmark to end")


async def test_app_eval_fills_the_cache_the_cli_reads(make_chat, tiny_model_dir, runs_dir, capsys):
    session, app = make_chat(eval_data_dir=str(DATA))
    notes: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        original = screen.notify
        screen.notify = lambda text, **kw: (notes.append(str(text)), original(text, **kw))[1]
        await run_eval(pilot, screen, "arc_easy,boolq", 6)  # the base
        screen.switcher.activate(runs_dir / "alpha")
        await run_eval(pilot, screen, "arc_easy,boolq", 6)  # base + alpha
        assert sum("arc_easy" in n and "boolq" in n for n in notes) == 2, notes
        catalog = screen.switcher.catalog(session.settings, with_deltas=False)
        from tuichat.adapters.evals import EvalPlan, deltas

        shown = deltas(session.engine, {a.name: a.path for a in catalog.adapters}, EvalPlan(("arc_easy", "boolq"), 6, DATA))
        assert set(shown) == {"alpha"} and set(shown["alpha"]) == {"arc_easy", "boolq"}
    entries = cached_entries()
    assert len(entries) == 4
    capsys.readouterr()
    code = eval_main(["--model", str(tiny_model_dir), "--adapter", str(runs_dir / "alpha"), "--device", "cpu",
                      "--dtype", "float32", "--tasks", "arc_easy,boolq", "--limit", "6", "--data-dir", str(DATA),
                      "--output", str(runs_dir.parent / "eval-out"), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("(cached)") == 4 and "(scored)" not in err
    assert cached_entries() == entries


async def test_cancelled_eval_caches_nothing_half(make_chat, monkeypatch):
    import threading

    from tuichat.adapters import evals

    session, app = make_chat(eval_data_dir=str(DATA))
    started = threading.Event()
    real = evals.run_quick_eval

    def slow_start(runtime, adapter_path, plan, cancel, progress):
        def report(done, total, task):
            started.set()
            progress(done, total, task)
            cancel.wait(5)  # hold the first batch until the user cancels

        return real(runtime, adapter_path, plan, cancel, report)

    monkeypatch.setattr(evals, "run_quick_eval", slow_start)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await screen.start_eval("hellaswag", 40)
        await wait_for(pilot, started.is_set, what="the first batch")
        await pilot.press("f8")  # cancel
        await wait_for(pilot, lambda: screen._eval_cancel is None, timeout=60, what="the cancel")
        assert not screen.query("#eval-progress")
    assert cached_entries() == set()
