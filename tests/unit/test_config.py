from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, ensure_secret_key, load_config


def test_defaults_are_embedded_and_safe() -> None:
    config = load_config()
    assert config.port == 8080
    assert config.redis_url == ""
    assert config.ice.stun_urls == ()  # never a public STUN server by default
    assert config.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert config.default_locale == "fr"


def test_toml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "causerie.toml"
    toml.write_text('port = 9000\nhost = "0.0.0.0"\n[limits]\nstage_max = 4\n')
    monkeypatch.setenv("CAUSERIE_PORT", "9100")
    config = load_config(toml)
    assert config.host == "0.0.0.0"
    assert config.limits.stage_max == 4
    assert config.port == 9100  # the environment wins over the file


def test_nested_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSERIE_LIMITS__QUESTION_MAX_LENGTH", "800")
    assert load_config().limits.question_max_length == 800


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("CAUSERIE_PORT", "http", "port"),
        ("CAUSERIE_LIMITS__STAGE_MAX", "99", "limits.stage_max"),
        ("CAUSERIE_DATABASE_URL", "mysql://x", "database_url"),
        ("CAUSERIE_TIMEZONE", "Mars/Olympus", "timezone"),
        ("CAUSERIE_WHISPER__DEVICE", "tpu", "whisper.device"),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=named):
        load_config()


def test_unknown_setting_in_file_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "causerie.toml"
    toml.write_text("prot = 80\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config(toml)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_config_is_immutable() -> None:
    config = load_config()
    with pytest.raises(ValueError, match="frozen"):
        config.port = 1  # type: ignore[misc]


def test_secret_key_generated_once_and_kept(tmp_path: Path) -> None:
    config = load_config(data_dir=tmp_path)
    first = ensure_secret_key(config)
    second = ensure_secret_key(load_config(data_dir=tmp_path))
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="secret_key"):
        ensure_secret_key(load_config(data_dir=tmp_path, secret_key="short"))
