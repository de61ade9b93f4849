"""Chat through a real llama.cpp server (llama_cpp.server on 127.0.0.1): streaming, served names as
adapters, exact token counts through its tokenise endpoint, sampling settings, cancel."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from server_env import KEY, NAMES
from tuichat.bootstrap import open_session
from tuichat.core.config import Settings
from tuichat.core.history import History
from tuichat.runtime.base import GenerationParams
from tuichat.runtime.openai_backend import OpenAIRuntime

GREEDY = dict(temperature=0.0, max_new_tokens=24, repetition_penalty=1.0)


def usage_prompt_tokens(url: str, model: str, messages: list[dict]) -> int:
    body = {"model": model, "messages": messages, "max_tokens": 1, "temperature": 0}
    r = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    r.raise_for_status()
    return r.json()["usage"]["prompt_tokens"]


@pytest.fixture
def runtime(llama_server, server_key):
    return OpenAIRuntime(llama_server[0] + "/v1", "smol", server_key)


def session_for(url: str, key_env: str, **extra) -> object:
    settings = Settings(backend="openai", base_url=url, model="smol", api_key_env=key_env, knowledge=False,
                        **{**GREEDY, **extra})
    return open_session(settings, progress=lambda _t: None)


def test_session_streams_an_answer_and_keeps_history(llama_server, server_key):
    session = session_for(llama_server[0] + "/v1", server_key)
    reply = session.send("What is the capital of France?")
    deltas = list(reply)
    assert len(deltas) > 3 and "".join(deltas) == reply.text and reply.text.strip()
    assert reply.stats.finish_reason in ("eos", "length") and reply.stats.new_tokens > 3
    assert reply.stats.ttft_s > 0 and reply.stats.total_s >= reply.stats.ttft_s
    stored = session.history.messages(session.session_id)
    assert [m.role for m in stored][-2:] == ["user", "assistant"]
    assert stored[-1].content == reply.text and not stored[-1].partial
    # regenerate adds a version of the answer; the next turn carries the conversation to the server
    again = session.regenerate().wait()
    assert again.text == reply.text  # greedy: the same answer
    assert [t.role for t in session.branch()][-2:] == ["user", "assistant"] and session.branch()[-1].content == again.text
    follow = session.send("And of Germany?").wait()
    assert follow.prompt_tokens > reply.prompt_tokens and follow.text.strip()
    assert session.engine.model_name == "smol" and session.engine.device.startswith("http://127.0.0.1:")
    from tuichat import paths

    stored_bytes = b"".join(p.read_bytes() for p in paths.history_db().parent.glob(paths.history_db().name + "*"))
    assert KEY.encode() not in stored_bytes and b"What is the capital of France?" in stored_bytes


def test_served_names_are_adapters_and_choosing_one_sends_its_name(runtime, llama_server, proxy, server_key):
    assert runtime.adapters() == [NAMES[1]] and runtime.active_adapter is None
    via = OpenAIRuntime(proxy.url, "smol", server_key)
    via.set_adapter(NAMES[1])
    assert via.model_name == f"smol + {NAMES[1]}"
    proxy.requests.clear()
    stream = via.stream([{"role": "user", "content": "Hi"}], GenerationParams(**{**GREEDY, "max_new_tokens": 4})).wait()
    assert stream.text and stream.stats.finish_reason in ("eos", "length")
    with pytest.raises(Exception, match="no adapter named 'nope'.*smol-b"):
        via.set_adapter("nope")
    via.set_adapter(None)
    assert via.model_name == "smol"
    with pytest.raises(Exception, match="--lora-modules"):
        via.load_adapter("/tmp/some-adapter")


CONVERSATIONS = [
    [{"role": "user", "content": "Hello there!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three colours."}],
    [{"role": "system", "content": "你是一个乐于助人的助手。"}, {"role": "user", "content": "北京是哪个国家的首都？"},
     {"role": "assistant", "content": "北京是中国的首都。"}, {"role": "user", "content": "上海呢？ And Paris?"}],
    [{"role": "user", "content": "  leading spaces and\ttabs\n\nnew lines  "}, {"role": "assistant", "content": "ok"},
     {"role": "user", "content": "emoji 🙂 and code `x = 1`"}],
]


@pytest.mark.parametrize("messages", CONVERSATIONS, ids=["one", "system", "chinese-multiturn", "whitespace"])
def test_token_count_equals_the_servers_own_prompt_count(runtime, llama_server, messages):
    assert runtime.counter.kind == "server" and not runtime.count_is_estimate
    assert runtime.count_tokens(messages) == usage_prompt_tokens(llama_server[0], "smol", messages)


def test_sampling_settings_reach_the_server(runtime):
    body, notices = runtime.request_body([{"role": "user", "content": "x"}],
                                         GenerationParams(temperature=0.3, top_p=0.8, max_new_tokens=7,
                                                          repetition_penalty=1.3, seed=5))
    assert body["temperature"] == 0.3 and body["top_p"] == 0.8 and body["max_tokens"] == 7
    assert body["seed"] == 5 and body["repeat_penalty"] == 1.3 and notices == []
    # the same seed gives the same sampled answer: the settings are honoured, not dropped
    params = GenerationParams(temperature=1.0, top_p=0.95, max_new_tokens=12, seed=11)
    first = runtime.stream([{"role": "user", "content": "Tell me a word."}], params).wait().text
    second = runtime.stream([{"role": "user", "content": "Tell me a word."}], params).wait().text
    assert first == second


def test_cancel_closes_the_stream_and_keeps_the_partial_answer(llama_server, clean_proxy, server_key):
    session = session_for(clean_proxy.url, server_key, max_new_tokens=400, temperature=0.8, seed=1)
    log = llama_server[1]
    before = log.read_text().count("Disconnected from client")
    cancel = threading.Event()
    reply = session.send("Write a long story about a dragon and a cat.", cancel=cancel)
    got = []
    for delta in reply:
        got.append(delta)
        if len(got) == 5:
            cancel.set()
            cancelled_at = time.monotonic()
    stopped = time.monotonic() - cancelled_at
    assert reply.stats.finish_reason == "cancelled" and reply.text == "".join(got)
    assert stopped < 5, stopped
    stored = session.history.messages(session.session_id)[-1]
    assert stored.role == "assistant" and stored.partial and stored.content == reply.text
    # the proxy saw the client go and closed its upstream request; the server stopped generating
    deadline = time.monotonic() + 10
    while (clean_proxy.disconnects == 0 or log.read_text().count("Disconnected from client") == before) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert clean_proxy.disconnects >= 1 and log.read_text().count("Disconnected from client") > before


def test_a_local_tokenizer_counts_exactly_where_the_server_cannot(llama_server, clean_proxy, server_key,
                                                                   embedded_model_dir):
    clean_proxy.set(hide=("/tokenize", "/extras/tokenize"), times=0)
    rt = OpenAIRuntime(clean_proxy.url, "smol", server_key, tokenizer=str(embedded_model_dir))
    assert rt.counter.kind == "tokenizer" and not rt.count_is_estimate
    for messages in CONVERSATIONS[1:3]:
        assert rt.count_tokens(messages) == usage_prompt_tokens(llama_server[0], "smol", messages)
    assert rt.render(CONVERSATIONS[1]).endswith("<|im_start|>assistant\n")
