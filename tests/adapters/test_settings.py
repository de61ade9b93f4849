"""--adapter is repeatable for chat; adapter folders and a models dir come from config.toml; a
damaged adapter given on the command line is one error line, not a traceback."""
from __future__ import annotations

import pytest

from tuichat.cli.main import build_parser, main, settings_from_args
from tuichat.core.config import load_settings
from tuichat.errors import ConfigError


def test_repeated_adapter_flags_first_is_active_the_rest_are_offered():
    args = build_parser().parse_args(["--adapter", "runs/a", "--adapter", "runs/b", "--adapter", "runs/c"])
    settings = settings_from_args(args)
    assert settings.adapter == "runs/a" and settings.adapters == ["runs/b", "runs/c"]
    assert settings_from_args(build_parser().parse_args([])).adapter is None


def test_config_adapter_dirs_and_models_dir(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('adapter_dirs = ["~/loras", "/srv/runs"]\nmodels_dir = "~/models"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.adapter_dirs == ["~/loras", "/srv/runs"] and settings.models_dir == "~/models"
    path.write_text('adapter_dirs = "~/loras"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="adapter_dirs"):
        load_settings(path)


def test_corrupt_adapter_on_the_command_line_is_one_line(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{not json", encoding="utf-8")
    assert main(["ask", "--adapter", str(broken), "--no-knowledge", "hi"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tuichat: error: {broken / 'adapter_config.json'} is not valid JSON (line 1): the adapter is damaged; retrain or restore it"]
