"""Errors of the media plane, each a `sessions.errors` subclass so the edges translate them.

Hierarchy::

    InvalidInput
     ├── SdpTooLarge        the SDP is longer than ``sdp_max_bytes``
     ├── InvalidSdp         not parseable, not an offer/answer we can use
     └── TooManyTracks      more media sections than ``max_tracks_per_publisher``
    PermissionDenied
     └── VideoNotAllowed    a video section from a participant allowed audio only
    InvalidTransition
     └── SlotsFull          every audio (or the video) slot of the café is taken
    NotFound
     └── NoSuchPeer         no subscription (or publication) for this participant
    Unavailable
     └── MediaClosed        the router was shut down
"""

from __future__ import annotations

from sessions.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    Unavailable,
)

__all__ = [
    "InvalidSdp",
    "MediaClosed",
    "NoSuchPeer",
    "SdpTooLarge",
    "SlotsFull",
    "TooManyTracks",
    "VideoNotAllowed",
]


class SdpTooLarge(InvalidInput):
    # The code of every payload over its bound (`signaling.errors.PayloadTooLarge`).
    code = "payload_too_large"
    http_status = 413
    default_message = "The media description is too large (at most %(limit)s bytes)."


class InvalidSdp(InvalidInput):
    default_message = "The media description is not valid."


class TooManyTracks(InvalidInput):
    default_message = "Too many media tracks (at most %(limit)s)."


class VideoNotAllowed(PermissionDenied):
    default_message = "You are not allowed to send video."


class SlotsFull(InvalidTransition):
    default_message = "No free media slot in this café."


class NoSuchPeer(NotFound):
    default_message = "No media connection for this participant."


class MediaClosed(Unavailable):
    default_message = "The media server is shutting down."
