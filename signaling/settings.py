"""The settings signaling owns: sections of the server's config, composed as they are.

`server.config.Config` holds these models themselves (no copy): ``ice`` (`IceSettings`,
how the media server reaches browsers), ``limits`` (`SignalingLimits`: the services' limits,
`sessions.settings.Limits`, with the realtime edge's own), ``cluster`` (`ClusterSettings`,
this process's media node) and ``broadcast`` (`BroadcastSettings`, the café's programme:
its one encode and its HLS, `signaling.media.programme`). They live here, not in
`signaling.media`, so that loading the config does not import aiortc or PyAV; signaling
never imports `server`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sessions.settings import Limits

__all__ = ["AUDIO_RATE", "BroadcastSettings", "ClusterSettings", "IceSettings",
           "SignalingLimits", "validate_host_addresses"]

# The programme's audio: its mix and its AAC track, in samples per second.
AUDIO_RATE = 48_000


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


class SignalingLimits(Limits):
    """The ``limits`` section: the services' limits and the realtime edge's own."""

    events_per_second: int = Field(20, ge=1, le=1000)
    sdp_max_bytes: int = Field(20_000, ge=1000, le=200_000)
    max_tracks_per_publisher: int = Field(2, ge=1, le=4)


class ClusterSettings(BaseModel):
    """Where each café's media runs when several processes serve (`signaling.placement`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # This process's media node id, as the proxy's map names it (docs/deploy/nginx.conf).
    # Empty: no cluster, every café's media is here. With `redis_url`, each café's media goes
    # to one live node (`signaling.placement`) and its pages point their sockets there.
    node_id: str = Field("", pattern=r"^([a-z0-9][a-z0-9-]{0,31})?$")
    # A node whose heartbeat is older than this is dead: its cafés move on the next ask.
    node_ttl_seconds: float = Field(15.0, ge=3.0, le=300.0)


class BroadcastSettings(BaseModel):
    """The café's programme (`signaling.media.programme`, `signaling.media.encoder`,
    `signaling.media.hls`) and who gets it instead of WebRTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The café's programme (the expert's camera, every stage speaker's audio mixed), encoded
    # once to H.264 + AAC while the café is live: HLS for large audiences and data saving,
    # kept as the video replay. Off: WebRTC only, audio replay only.
    enabled: bool = True
    width: int = Field(640, ge=160, le=1920, multiple_of=4)
    height: int = Field(480, ge=120, le=1088, multiple_of=4)
    # Each divides AUDIO_RATE: a tick's audio is a whole number of samples.
    fps: Literal[15, 24, 25, 30] = 30
    video_bitrate: int = Field(800_000, ge=100_000, le=8_000_000)
    audio_bitrate: int = Field(64_000, ge=32_000, le=256_000)
    # One keyframe and one HLS segment every so many seconds (1-2 s: the listing delay).
    segment_seconds: float = Field(1.0, ge=1.0, le=4.0)
    # Segments in the live playlist (the player starts about three from its end).
    window: int = Field(6, ge=3, le=30)
    # Parents per café on WebRTC; beyond it a parent gets the HLS player (0: no limit).
    # Staff, the expert and parents on stage are always on WebRTC.
    webrtc_capacity: int = Field(300, ge=0, le=100_000)

    @field_validator("fps", mode="before")
    @classmethod
    def _fps_from_text(cls, value: object) -> object:
        # An environment variable is text, and a Literal of ints takes no text: "25" is 25.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @property
    def webrtc_limit(self) -> int:
        """Parents per café on WebRTC (0: no limit): without the programme, no HLS to send
        the others to."""
        return self.webrtc_capacity if self.enabled else 0

    @property
    def samples_per_tick(self) -> int:
        """Audio samples per frame period of the programme."""
        return AUDIO_RATE // self.fps

    @property
    def gop(self) -> int:
        """Frames from one keyframe (and HLS segment) to the next."""
        return max(1, round(self.segment_seconds * self.fps))
