"""The WebRTC media plane: publishers, subscribers, forwarding and audio taps, on aiortc.

Its face: `MediaRouter` takes the negotiation calls of the socket.io handlers (`publish`,
`subscribe`, `accept_answer`...) and the services' typed commands (`carry_out` of a
`sessions.commands.MediaCommand`: stop a publication, mute, disconnect a participant's
media), and hands out each speaker's decoded audio (`add_audio_tap`).

Inside: `router` (the `MediaRouter`: publications, subscriptions, commands, taps, lifetime),
`room` (a café's slots, publishers and subscribers), `negotiation` (offers and answers with
aiortc), `pumps` (the forwarding loops: decode, taps, one encode, the slot), `fanout` (a
slot's RTP rewriting, sans I/O), `sender_link` (a slot to a real aiortc sender),
`aiortc_hooks` (every private aiortc access, checked by a test), `backlog`, `stats`, `sdp`,
`ice`, `taps`, `errors`. See `MediaRouter` and `fanout` for how forwarding works (one
encode per publisher, one RTP serialization per frame, per subscriber only SRTP and
``sendto``).
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
from .ice import IceSettings, build_configuration, ice_servers_for_browser, offered_host_addresses
from .router import MediaRouter
from .stats import MediaStats
from .taps import AudioChunk, AudioTap, AudioTapCallback, VideoChunk, VideoTapCallback

__all__ = [
    "AudioChunk",
    "AudioTap",
    "AudioTapCallback",
    "IceSettings",
    "InvalidSdp",
    "MediaClosed",
    "MediaRouter",
    "MediaStats",
    "NoSuchPeer",
    "SdpTooLarge",
    "SlotsFull",
    "TooManyTracks",
    "VideoChunk",
    "VideoNotAllowed",
    "VideoTapCallback",
    "build_configuration",
    "ice_servers_for_browser",
    "offered_host_addresses",
]
