"""Faults a server brings, injected by a proxy in front of the real llama.cpp server. Each must end
in one clear line, with the user's message kept in history and nothing half-written."""
from __future__ import annotations

import threading
import time

import pytest

from server_env import KEY, KEY_ENV, free_port
from fault_proxy import FaultProxy
from tuichat.cli.main import main
from tuichat.core.config import Settings
from tuichat.core.history import History
from tuichat.core.session import ChatSession
from tuichat.personas.library import PersonaLibrary
from tuichat.runtime.base import GenerationParams
from tuichat.runtime.openai_backend import OpenAIRuntime
from tuichat.runtime.openai_http import ServerError

SHORT = dict(temperature=0.0, max_new_tokens=8, repetition_penalty=1.0)
HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def runtime(proxy):
    import os

    os.environ[KEY_ENV] = KEY
    rt = OpenAIRuntime(proxy.url, "smol", KEY_ENV, read_timeout=60)
    rt.count_tokens(HI)  # measure the template's tokens before any fault is injected
    return rt


@pytest.fixture
def session(runtime, clean_proxy):
    return ChatSession(runtime, History(), PersonaLibrary([]), None, Settings(knowledge=False, **SHORT))


def fails_cleanly(session, match: str, message: str = "Hello?") -> None:
    """The send fails with one line; the user's message is stored; no answer, or a partial one."""
    reply = None
    with pytest.raises(ServerError, match=match) as caught:
        reply = session.send(message)
        reply.wait()
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)
    stored = session.history.messages(session.session_id)
    user = [m for m in stored if m.role == "user"][-1]
    assert user.content == message
    after = stored[stored.index(user) + 1:]
    assert all(m.partial for m in after) and len(after) <= 1


def recovers(session, proxy) -> None:
    proxy.clear()
    reply = session.send("Hello again.").wait()
    assert reply.text and reply.stats.finish_reason in ("eos", "length")


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["ask", "--backend", "openai", "--no-knowledge", *args, "hi"])
    return code, capsys.readouterr().err.strip().splitlines()


def test_server_down_at_start_bad_url_and_dns_are_one_line_each(capsys):
    code, err = cli(capsys, "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--model", "smol")
    assert code == 2 and err[-1].startswith("tuichat: error: cannot reach the model server") and "running" in err[-1]
    code, err = cli(capsys, "--base-url", "file:///etc/passwd", "--model", "smol")
    assert code == 2 and err == ["tuichat: error: the server base URL must start with http:// or https:// (got 'file:///etc/passwd')"]
    with pytest.raises(ServerError, match="DNS lookup failed"):
        OpenAIRuntime("http://no-such-host.invalid/v1", "smol")


def test_a_wrong_key_is_refused_and_never_printed(llama_server, capsys, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-5ecret")
    code, err = cli(capsys, "--base-url", llama_server[0] + "/v1", "--model", "smol", "--api-key-env", KEY_ENV)
    assert code == 2 and "HTTP 401" in err[-1] and f"${KEY_ENV}" in err[-1]
    assert "5ecret" not in "\n".join(err)
    monkeypatch.delenv(KEY_ENV)
    code, err = cli(capsys, "--base-url", llama_server[0] + "/v1", "--model", "smol", "--api-key-env", KEY_ENV)
    assert code == 2 and err[-1] == f"tuichat: error: api_key_env names the environment variable {KEY_ENV}, but it is not set"


def test_an_unknown_model_at_start_names_the_served_ones(llama_server, server_key):
    with pytest.raises(ServerError, match=r"no model 'big' \(served: smol, smol-b\)"):
        OpenAIRuntime(llama_server[0], "big", server_key)


@pytest.mark.parametrize("status,match", [(403, "refused the request \\(HTTP 403\\): check the key"),
                                          (404, "has no model 'smol'.*HTTP 404"),
                                          (500, "failed \\(HTTP 500: boom \\[31mred\\)")])  # ESC removed
def test_refusals(session, clean_proxy, status, match):
    clean_proxy.set(status=status, body='{"error": {"message": "boom \\u001b[31mred"}}')
    fails_cleanly(session, match)
    recovers(session, clean_proxy)


def test_busy_server_is_retried_after_retry_after(session, clean_proxy):
    clean_proxy.set(status=429, retry_after="0.2", times=2)
    reply = session.send("Hello?").wait()
    assert reply.text
    assert sum(p.endswith("/chat/completions") for _m, p, _h in clean_proxy.requests) == 3


def test_busy_server_gives_up_after_a_few_tries_or_a_long_retry_after(session, clean_proxy):
    clean_proxy.set(status=503, retry_after="0.1")
    fails_cleanly(session, "busy \\(HTTP 503; gave up after 3 tries\\)")
    assert sum(p.endswith("/chat/completions") for _m, p, _h in clean_proxy.requests) == 3
    clean_proxy.set(status=429, retry_after="3600")
    started = time.monotonic()
    fails_cleanly(session, "busy \\(HTTP 429; it asks to wait 3600 s\\)")
    assert time.monotonic() - started < 5


def test_cancel_ends_a_retry_wait(runtime, clean_proxy):
    clean_proxy.set(status=429, retry_after="8")
    stream = runtime.stream(HI, GenerationParams(**SHORT))
    time.sleep(0.3)
    cancelled = time.monotonic()
    stream.cancel()
    stream.wait()
    assert stream.stats.finish_reason == "cancelled" and stream.text == ""
    assert time.monotonic() - cancelled < 2


def test_dropped_connection_mid_answer_keeps_the_partial_answer(session, clean_proxy):
    clean_proxy.set(drop_after=4)
    fails_cleanly(session, "closed the connection mid-answer; the partial answer is kept")
    stored = session.history.messages(session.session_id)[-1]
    assert stored.role == "assistant" and stored.partial and stored.content == session.last_reply.text != ""
    recovers(session, clean_proxy)


def test_malformed_stream_line(session, clean_proxy):
    clean_proxy.set(malformed_after=3)
    fails_cleanly(session, "malformed stream line: '\\{this is not json'")
    recovers(session, clean_proxy)


def test_server_gone_mid_conversation(runtime, llama_server, server_key):
    own = FaultProxy(llama_server[0])
    rt = OpenAIRuntime(own.url, "smol", server_key)
    session = ChatSession(rt, History(), PersonaLibrary([]), None, Settings(knowledge=False, **SHORT))
    rt.counter = runtime.counter  # same server and model: reuse the measured template overhead
    session.send("First.").wait()
    own.set(reset=True)
    fails_cleanly(session, "closed the connection without answering")
    own.close()
    fails_cleanly(session, "cannot reach the model server .* \\(connection refused: is it running\\?\\)", "Still there?")


def test_stalled_stream_times_out(llama_server, clean_proxy, server_key):
    rt = OpenAIRuntime(clean_proxy.url, "smol", server_key, read_timeout=3)
    clean_proxy.set(stall_after=3)  # the role line and two tokens, then silence
    stream = rt.stream(HI, GenerationParams(**SHORT))
    with pytest.raises(ServerError, match="sent nothing for 3 s; answer stopped") as caught:
        stream.wait()
    assert stream.stats.finish_reason == "error"
    assert str(caught.value).endswith("; the partial answer is kept") == bool(stream.text)


def test_cancel_during_a_stall_returns_at_once(runtime, clean_proxy):
    clean_proxy.set(stall_after=3)
    stream = runtime.stream(HI, GenerationParams(**SHORT))
    deadline = time.monotonic() + 30
    while not stream.text and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    cancelled = time.monotonic()
    stream.cancel()
    stream.wait()
    assert stream.stats.finish_reason == "cancelled" and time.monotonic() - cancelled < 2


def test_a_longer_answer_than_asked_is_cut_at_max_new_tokens(runtime, clean_proxy):
    clean_proxy.set(rewrite={"max_tokens": 60})
    stream = runtime.stream([{"role": "user", "content": "Count from one to fifty."}],
                            GenerationParams(**{**SHORT, "max_new_tokens": 5})).wait()
    assert stream.stats.new_tokens == 5 and stream.stats.finish_reason == "length"


def test_a_non_streamed_body_is_taken_whole(runtime, clean_proxy):
    streamed = runtime.stream(HI, GenerationParams(**SHORT)).wait()
    clean_proxy.set(rewrite={"stream": False})
    whole = runtime.stream(HI, GenerationParams(**SHORT)).wait()
    assert whole.text == streamed.text != ""
    assert whole.stats.new_tokens == streamed.stats.new_tokens and whole.stats.prompt_tokens > 0


def test_without_a_tokenise_endpoint_counts_are_estimates_and_ignored_settings_are_reported_once(
        llama_server, clean_proxy, server_key, capsys):
    from tuichat.cli.plain import print_footer

    clean_proxy.set(hide=("/tokenize", "/extras/tokenize"), times=0)
    rt = OpenAIRuntime(clean_proxy.url, "smol", server_key)
    assert rt.server_kind == "openai" and rt.count_is_estimate
    session = ChatSession(rt, History(), PersonaLibrary([]), None,
                          Settings(knowledge=False, **{**SHORT, "repetition_penalty": 1.2}))
    first = session.send("Hi").wait()
    second = session.send("Hi again").wait()
    assert any("repetition_penalty=1.2" in n and "ignored" in n for n in first.notices)
    assert not any("repetition_penalty" in n for n in second.notices)
    assert first.text and second.text and first.prompt_tokens > 0
    print_footer(second)
    assert f"context ≈{second.prompt_tokens}/" in capsys.readouterr().err


def test_plain_repl_says_one_line_and_carries_on(session, clean_proxy, capsys):
    import io

    from tuichat.cli.plain import repl

    clean_proxy.set(status=500, times=1)
    out = io.StringIO()
    assert repl(session, io.StringIO("First try\nSecond try\n"), out) == 0
    err = capsys.readouterr().err
    assert err.count("tuichat: error: the server at") == 1 and "HTTP 500: injected" in err
    users = [m.content for m in session.history.messages(session.session_id) if m.role == "user"]
    assert users == ["First try", "Second try"] and out.getvalue().strip()
