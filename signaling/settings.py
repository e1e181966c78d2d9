"""What signaling reads of the server's settings: protocols over `server.config` sections,
so signaling never imports `server`."""

from __future__ import annotations

from typing import Protocol

from sessions.ratelimit import LimitsLike


class SignalingLimits(LimitsLike, Protocol):
    """What signaling reads of `server.config.LimitsConfig`: the services' limits and its own."""

    @property
    def events_per_second(self) -> int: ...
    @property
    def sdp_max_bytes(self) -> int: ...
    @property
    def max_tracks_per_publisher(self) -> int: ...


class IceLike(Protocol):
    """What signaling reads of `server.config.IceConfig`."""

    @property
    def host_addresses(self) -> tuple[str, ...]: ...
    @property
    def stun_urls(self) -> tuple[str, ...]: ...
    @property
    def turn_urls(self) -> tuple[str, ...]: ...
    @property
    def turn_username(self) -> str: ...
    @property
    def turn_credential(self) -> str: ...
