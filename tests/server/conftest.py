"""A real llama.cpp server (llama-cpp-python's `[server]` extra) on 127.0.0.1 with the embedded GGUF,
serving it under two names and asking for an API key, plus a fault-injecting proxy in front of it.
Started once per test session; skipped with the reason where llama_cpp or its server deps are
missing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

import httpx
import pytest

from fault_proxy import FaultProxy
from server_env import KEY, KEY_ENV, NAMES, free_port



@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """(base URL, log path) of a running llama_cpp.server; stopped at the end of the session."""
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        pytest.importorskip(module, reason=f"the llama.cpp server tests need llama-cpp-python[server] ({module} missing)")
    from tuichat.runtime.models import embedded_gguf

    gguf = str(embedded_gguf())
    port = free_port()
    folder = tmp_path_factory.mktemp("llama-server")
    # One thread: the test machine's cores are shared, and llama.cpp's spinning threads slow to a
    # crawl when they have to wait for a core.
    model = {"model": gguf, "n_ctx": 2048, "n_threads": 1, "n_batch": 256, "verbose": False}
    config = {"host": "127.0.0.1", "port": port, "api_key": KEY,
              "models": [{**model, "model_alias": name} for name in NAMES]}
    (folder / "config.json").write_text(json.dumps(config))
    log = folder / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "llama_server.py"), "--config_file", str(folder / "config.json")],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def server_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY_ENV


@pytest.fixture(scope="session")
def proxy(llama_server):
    p = FaultProxy(llama_server[0])
    yield p
    p.close()


@pytest.fixture
def clean_proxy(proxy):
    proxy.clear()
    proxy.requests.clear()
    yield proxy
    proxy.clear()
