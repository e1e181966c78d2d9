"""One typed, immutable configuration, built once at start-up.

Sources, later wins: defaults here, an optional TOML file (`--config`), then `CAUSERIE_*`
environment variables (nested settings with a double underscore:
`CAUSERIE_LIMITS__QUESTION_MAX_LENGTH=500`). A bad value stops start-up with a message that
names the setting (`ConfigError`).

Each section is the settings model of the package that uses it, composed here as it is (no
copy, one shape per setting): ``ice``, ``limits``, ``cluster`` and ``broadcast`` are
signaling's (`signaling.settings`; ``limits`` extends `sessions.settings.Limits`),
``whisper`` and ``retention`` are transcripts' (`transcripts.settings`,
`transcripts.retention`), ``simulcast`` is the server's own, extending
`sessions.settings.DestinationLimits`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sessions.settings import DestinationLimits
from signaling.settings import BroadcastSettings, ClusterSettings, IceSettings, SignalingLimits
from transcripts.retention import RetentionSettings
from transcripts.settings import WhisperSettings


class ConfigError(Exception):
    """The configuration is not usable; the message names the setting."""


class SimulcastConfig(DestinationLimits):
    # RTMP(S) destinations per café (a YouTube or Facebook Live ingest and stream key): the
    # café's programme is pushed to each while the café is live. What a destination may be
    # (how many, how long its URL and key) is the sessions' `DestinationLimits`, which this
    # section is; the rest is the pusher's (`server.simulcast`).
    enabled: bool = True
    # Reconnection: 1 s doubling up to this, after a refused or dropped destination.
    retry_max_seconds: float = Field(30.0, ge=1.0, le=600.0)
    open_timeout_seconds: float = Field(10.0, ge=1.0, le=60.0)
    # How often the media node re-reads the destinations and publishes their statuses.
    refresh_seconds: float = Field(2.0, ge=0.2, le=30.0)
    # A Fernet key (urlsafe base64, 32 bytes) sealing the stream keys at rest. Empty: one
    # derived from `secret_key` (changing that secret makes the stored keys unreadable).
    stream_key_secret: str = ""
    # rtmps:// destinations: their server's certificate is verified (chain and host name)
    # against this PEM file of certificate authorities; empty: the system's (Debian's
    # ca-certificates, /etc/ssl/certs).
    ca_file: str = ""

    @field_validator("ca_file")
    @classmethod
    def _pem_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError("a PEM file of certificate authorities")
        return value

    @field_validator("stream_key_secret")
    @classmethod
    def _fernet_key(cls, value: str) -> str:
        if value:
            from cryptography.fernet import Fernet

            try:
                Fernet(value.encode())
            except ValueError:
                raise ValueError("a Fernet key: 32 bytes in urlsafe base64") from None
        return value


class Config(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CAUSERIE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Public base URL, used in invitation links printed by the CLI.
    public_url: str = ""
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: sqlite file in data_dir
    redis_url: str = ""  # empty: in-process socket.io manager and job queue
    secret_key: str = ""  # empty: generated once and kept in data_dir/secret_key
    default_locale: Literal["fr", "en"] = "fr"
    # The time zone forms and pages use for café times (stored in UTC).
    timezone: str = "Europe/Paris"
    secure_cookies: bool = False  # set true behind HTTPS
    invitation_ttl_hours: int = Field(24 * 14, ge=1, le=24 * 365)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "text"
    demo_cafe: bool = False
    # The association existing cafés and organisers go into when associations arrive (the
    # 0012 migration), and new cafés without one: the first association.
    first_association: str = Field("Causerie", min_length=1, max_length=120)
    # Who may read /metrics: clients from these networks (CIDR) that came without a proxy's
    # forwarding header, or any client sending `Authorization: Bearer <metrics_token>`.
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    metrics_token: str = ""
    # People in a café beyond which parents see only the staff in the room's list, and the
    # number present (staff always see everyone): privacy, and the cost of a large café.
    presence_list_limit: int = Field(50, ge=0, le=100_000)
    ice: IceSettings = IceSettings()
    limits: SignalingLimits = SignalingLimits()
    whisper: WhisperSettings = WhisperSettings()
    cluster: ClusterSettings = ClusterSettings()
    broadcast: BroadcastSettings = BroadcastSettings()
    retention: RetentionSettings = RetentionSettings()
    simulcast: SimulcastConfig = SimulcastConfig()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://...")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {network!r}") from None
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: str) -> str:
        if value and len(value) < 24:
            raise ValueError("at least 24 characters")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://HOST:PORT/DB")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve()}/causerie.db"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def _with_toml(toml_file: Path | None) -> type[Config]:
    class _FileConfig(Config):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if toml_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
            return tuple(sources)

    return _FileConfig


def load_config(toml_file: Path | None = None, **overrides: Any) -> Config:
    """Build the config once: defaults < TOML file < environment < explicit overrides."""
    if toml_file is not None and not toml_file.is_file():
        raise ConfigError(f"config file not found: {toml_file}")
    try:
        built = _with_toml(toml_file)(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from None
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"cannot read {toml_file}: {exc}") from None
    return Config.model_construct(**dict(built))


def ensure_secret_key(config: Config) -> Config:
    """Return a config with a secret key: the given one, else one stored in data_dir."""
    if config.secret_key:
        if len(config.secret_key) < 32:
            raise ConfigError("invalid setting: secret_key: at least 32 characters")
        return config
    config.data_dir.mkdir(parents=True, exist_ok=True)
    path = config.data_dir / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return config.model_copy(update={"secret_key": path.read_text().strip()})
