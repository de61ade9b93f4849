"""The server keys in config.toml and on the command line; no server needed."""
from __future__ import annotations

import pytest

from tuichat.bootstrap import open_runtime
from tuichat.cli.main import build_parser, settings_from_args
from tuichat.core.config import load_settings
from tuichat.errors import ConfigError
from tuichat.runtime.openai_http import endpoint


def test_config_file_keys_and_flags(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('backend = "openai"\nbase_url = "http://10.0.0.5:8000/v1"\nmodel = "qwen-7b"\n'
                      'api_key_env = "VLLM_KEY"\ntokenizer = "/models/qwen"\nserver_timeout = 30\n')
    s = load_settings(config)
    assert (s.backend, s.base_url, s.model, s.api_key_env, s.tokenizer, s.server_timeout) == \
        ("openai", "http://10.0.0.5:8000/v1", "qwen-7b", "VLLM_KEY", "/models/qwen", 30.0)
    args = build_parser().parse_args(["--config", str(config), "--base-url", "https://gpu.example:443/v1",
                                      "--api-key-env", "OTHER_KEY", "--adapter", "my-lora"])
    s = settings_from_args(args)
    assert (s.backend, s.base_url, s.api_key_env, s.adapter) == ("openai", "https://gpu.example:443/v1", "OTHER_KEY", "my-lora")
    config.write_text("server_timeout = 0\n")
    with pytest.raises(ConfigError, match="server_timeout"):
        load_settings(config)


def test_backend_choice_errors_are_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('backend = "openai"\n')
    with pytest.raises(ConfigError, match="needs --base-url"):
        open_runtime(load_settings(config))
    config.write_text('backend = "tensorrt"\n')
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'"):
        open_runtime(load_settings(config))


@pytest.mark.parametrize("url,base,root", [
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
    ("https://host/openai/v1/", "https://host/openai/v1", "https://host/openai"),
])
def test_base_urls_are_normalised(url, base, root):
    ep = endpoint(url)
    assert (ep.base_url, ep.root) == (base, root)


@pytest.mark.parametrize("url,match", [("ftp://host/v1", "http:// or https://"), ("localhost:8000", "http:// or https://"),
                                       ("http:///v1", "no host"), ("http://user:pw@host/v1", "no user name or password")])
def test_bad_base_urls(url, match):
    with pytest.raises(ConfigError, match=match):
        endpoint(url)


def test_the_status_bar_marks_estimated_counts():
    from tuichat.ui.widgets.status.bar import StatusBar

    bar = StatusBar()
    bar.budget, bar.context_tokens = 1024, 300
    assert "300/1,024 tok" in bar.render().plain and "≈" not in bar.render().plain
    bar.estimated = True
    assert "≈300/1,024 tok" in bar.render().plain
