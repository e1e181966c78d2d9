from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, SimulcastConfig, ensure_secret_key, load_config
from sessions.settings import DestinationLimits, Limits
from signaling.settings import BroadcastSettings, ClusterSettings, IceSettings, SignalingLimits
from transcripts.retention import RetentionSettings
from transcripts.settings import WhisperSettings


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
        ("CAUSERIE_LIMITS__SDP_MAX_BYTES", "10", "limits.sdp_max_bytes"),
        ("CAUSERIE_BROADCAST__FPS", "29", "broadcast.fps"),
        ("CAUSERIE_BROADCAST__WIDTH", "642", "broadcast.width"),
        ("CAUSERIE_CLUSTER__NODE_ID", "Node 1", "cluster.node_id"),
        ("CAUSERIE_SIMULCAST__MAX_DESTINATIONS", "99", "simulcast.max_destinations"),
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


@pytest.mark.parametrize("section", ["broadcast", "limits", "simulcast", "cluster"])
def test_a_knob_that_is_not_a_setting_is_refused(tmp_path: Path, section: str) -> None:
    # The encoder's preset, a destination's label length: keywords in code, not settings.
    toml = tmp_path / "causerie.toml"
    toml.write_text(f'[{section}]\npreset = "ultrafast"\nlabel_max_length = 9\n')
    with pytest.raises(ConfigError, match=rf"{section}\.preset: Extra inputs"):
        load_config(toml)


def test_sections_are_the_packages_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """One shape per setting: each section is the model of the package that uses it, with
    the values the environment gave, not a copy into another shape."""
    monkeypatch.setenv("CAUSERIE_BROADCAST__SEGMENT_SECONDS", "2")
    monkeypatch.setenv("CAUSERIE_BROADCAST__FPS", "25")  # refused before: text, not 25
    monkeypatch.setenv("CAUSERIE_LIMITS__STAGE_MAX", "3")
    monkeypatch.setenv("CAUSERIE_LIMITS__EVENTS_PER_SECOND", "40")
    monkeypatch.setenv("CAUSERIE_CLUSTER__NODE_ID", "media-2")
    monkeypatch.setenv("CAUSERIE_SIMULCAST__KEY_MAX_LENGTH", "100")
    config = load_config()
    assert type(config.ice) is IceSettings
    assert type(config.whisper) is WhisperSettings
    assert type(config.retention) is RetentionSettings
    assert type(config.cluster) is ClusterSettings and config.cluster.node_id == "media-2"
    assert type(config.broadcast) is BroadcastSettings
    assert config.broadcast.gop == 50 and config.broadcast.samples_per_tick == 1920
    assert type(config.limits) is SignalingLimits and isinstance(config.limits, Limits)
    assert config.limits.stage_max == 3 and config.limits.events_per_second == 40
    assert type(config.simulcast) is SimulcastConfig
    assert isinstance(config.simulcast, DestinationLimits)
    assert config.simulcast.key_max_length == 100
    assert config.broadcast.webrtc_limit == 300
    off = load_config(broadcast={"enabled": False})
    assert off.broadcast.webrtc_limit == 0  # no programme: no HLS to send parents to


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
