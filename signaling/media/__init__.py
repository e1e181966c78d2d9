"""The WebRTC media plane: publishers, subscribers, forwarding and audio taps, on aiortc.

The socket.io namespace calls `MediaRouter`; see its docstring and `signaling.media.fanout`
for how forwarding works (one encode per publisher, one RTP serialization per frame, per
subscriber only SRTP and ``sendto``).
"""

from .errors import (
    InvalidSdp,
    MediaClosed,
    NoSuchPeer,
    SdpTooLarge,
    SlotsFull,
    TooManyTracks,
    VideoNotAllowed,
)
from .fanout import MediaStats
from .ice import build_configuration, offered_host_addresses
from .router import MediaRouter
from .taps import AudioChunk, AudioTap, AudioTapCallback, Pcm16kResampler

__all__ = [
    "AudioChunk",
    "AudioTap",
    "AudioTapCallback",
    "InvalidSdp",
    "MediaClosed",
    "MediaRouter",
    "MediaStats",
    "NoSuchPeer",
    "Pcm16kResampler",
    "SdpTooLarge",
    "SlotsFull",
    "TooManyTracks",
    "VideoNotAllowed",
    "build_configuration",
    "offered_host_addresses",
]
