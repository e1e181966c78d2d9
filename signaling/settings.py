"""The settings signaling owns, and what it reads of the server's others.

`IceSettings` is the ``ice`` section of `server.config.Config` (the server composes it; the
media plane takes it as it is). It lives here, not in `signaling.media`, so that loading
the config does not import aiortc. The limits are read through a protocol over
`server.config.LimitsConfig`: signaling never imports `server`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from sessions.ratelimit import LimitsLike

__all__ = ["IceSettings", "SignalingLimits", "validate_host_addresses"]


def validate_host_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """Return the addresses as a tuple, or raise ValueError naming a bad one."""
    for address in addresses:
        ipaddress.ip_address(address)  # raises ValueError
    return tuple(addresses)


class IceSettings(BaseModel):
    """How the media server reaches browsers: `server.config.Config.ice` is this model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Addresses the media server offers in its ICE candidates (aioice leaves out loopback:
    # tests need 127.0.0.1; production the public address). Empty: every interface.
    host_addresses: tuple[str, ...] = ()
    # No public STUN server by default: an operator opts in.
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_username: str = ""
    turn_credential: str = ""

    @field_validator("host_addresses")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return validate_host_addresses(value)


class SignalingLimits(LimitsLike, Protocol):
    """What signaling reads of `server.config.LimitsConfig`: the services' limits and its own."""

    @property
    def events_per_second(self) -> int: ...
    @property
    def sdp_max_bytes(self) -> int: ...
    @property
    def max_tracks_per_publisher(self) -> int: ...

