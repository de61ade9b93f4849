"""Quitting right after a persona switch, while the KV-cache warm it started is still prefilling,
exits cleanly on both local backends. With the warm on a daemon thread the interpreter tore down
torch or llama.cpp under it: "terminate called without an active exception" (exit 134) on
transformers, a segfault (139) on llama.cpp (`--plain`, persona switch, quit: 1 of 2 runs by hand). It
is a race, so this test caught it in some runs, not every run."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("backend", ["transformers", "llamacpp"])
def test_quit_during_a_warm_exits_cleanly(backend, tuichat_home, embedded_model_dir, tmp_path):
    personas = tmp_path / "personas"
    personas.mkdir()
    # A long system prompt (~900 tokens): its warm is still prefilling when `quit` is read.
    body = "You answer questions about the history of tea, briefly and kindly. " * 70
    (personas / "long.md").write_text(f"---\nname: long\ntitle: Long\n---\n\n{body}\n", encoding="utf-8")
    env = {**os.environ, "TUICHAT_HOME": str(tuichat_home), "HF_HUB_OFFLINE": "1"}
    # fp32 on transformers: its prefill is the slowest, which keeps the warm running at `quit`.
    dtype = ["--dtype", "float32"] if backend == "transformers" else []
    for persona in ("long", "catgirl", "long"):
        done = subprocess.run([sys.executable, "-m", "tuichat.cli.main", "--plain", "--backend", backend, *dtype,
                               "--no-knowledge", "--personas-dir", str(personas)], input=f"persona {persona}\nquit\n",
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"[persona: {persona}]" in done.stderr  # the switch happened before quit
        assert "terminate called" not in done.stderr
