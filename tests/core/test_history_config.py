import pytest

from tuichat.core.config import Settings, load_settings
from tuichat.errors import ConfigError
from tuichat.core.history import History


def test_history_sessions_rename_export_delete(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    sid = h.new_session("assistant", "tiny")
    question = h.add_message(sid, "user", "What is **2+2**?")
    mid = h.add_message(sid, "assistant", "4", partial=True, parent_id=question)
    h.update_message(mid, "4, of course", partial=False)
    [info] = h.sessions()
    assert info.title == "What is **2+2**?" and info.message_count == 2
    h.rename_session(sid, "Arithmetic")
    md = h.export_markdown(sid)
    assert md.startswith("# Arithmetic") and "4, of course" in md and "(stopped)" not in md
    h.delete_session(sid)
    assert h.sessions() == [] and h.messages(sid) == []


def test_history_survives_reopening(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = History(path)
    sid = h.new_session("assistant", "tiny")
    h.add_message(sid, "user", "kept")
    del h
    assert [m.content for m in History(path).messages(sid)] == ["kept"]


def write(tmp_path, text):
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_config_values_are_read_and_typed(tmp_path):
    s = load_settings(write(tmp_path, 'temperature = 0\npersona = "tutor"\ncontext_budget = 2048\n[keys]\nnew_session = "ctrl+b"\n'))
    assert s.temperature == 0.0 and s.persona == "tutor" and s.context_budget == 2048
    assert s.keys == {"new_session": "ctrl+b"}
    assert s.with_overrides(temperature=0.5, persona=None).temperature == 0.5


@pytest.mark.parametrize("text, key", [
    ("temprature = 0.5\n", "temprature"),
    ('max_new_tokens = "many"\n', "max_new_tokens"),
    ("top_p = 3.0\n", "top_p"),
    ("temperature = = 1\n", "TOML"),
])
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert key in str(err.value) and "\n" not in str(err.value)


def test_missing_config_gives_defaults(tmp_path):
    assert load_settings(tmp_path / "none.toml") == Settings()


def test_explicit_settings_win_over_persona_generation_overrides(tmp_path):
    persona_wants = {"temperature": 0.8, "top_p": 0.5}
    assert Settings().generation_params(persona_wants).temperature == 0.8
    cli = Settings().with_overrides(temperature=0.0)
    params = cli.generation_params(persona_wants)
    assert params.temperature == 0.0 and params.top_p == 0.5
    from_file = load_settings(write(tmp_path, "top_p = 0.9\n"))
    assert from_file.generation_params(persona_wants).top_p == 0.9
