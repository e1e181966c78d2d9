"""Errors of the signaling edge, each a `sessions.errors` subclass so one translation path
serves them all.

Hierarchy::

    CauserieError
     ├── NotJoined          not_joined        the event needs a `join` first
     ├── AlreadyJoined      already_joined    `join` twice on one socket
     ├── UnknownEvent       unknown_event     no such event
     ├── PermissionDenied (sessions)
     │    └── InvitationEnded forbidden       the `role.changed` notice: an invitation ended
     └── InvalidInput
          └── PayloadTooLarge payload_too_large  a field over its size bound (an SDP)
     ├── WebRtcFull         webrtc_full       the café's WebRTC places for parents are taken:
     │                                        the page plays its HLS broadcast instead
    RateLimited (sessions)  rate_limited      the per-connection event rate
    Unavailable (sessions)  unavailable       Redis (or another backend) is not reachable:
     │                                        `backend_down` maps its errors, in `dispatch`
     └── MediaElsewhere     media_elsewhere   the café's media is held by another process
                                              (`signaling.placement`): reload the page
"""

from __future__ import annotations

from redis.exceptions import RedisError

from sessions.errors import (
    CauserieError,
    InvalidInput,
    PermissionDenied,
    RateLimited,
    Unavailable,
)

__all__ = ["BACKEND_ERRORS", "AlreadyJoined", "EventFlood", "InvitationEnded",
           "MediaElsewhere", "NotJoined", "PayloadTooLarge", "UnknownEvent", "WebRtcFull"]

# What a backend that is not there raises: redis-py's errors, and the socket's own (refused,
# reset, timed out: `TimeoutError` is an `OSError`).
BACKEND_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)


class NotJoined(CauserieError):
    code = "not_joined"
    http_status = 409
    default_message = "Join the café first."


class AlreadyJoined(CauserieError):
    code = "already_joined"
    http_status = 409
    default_message = "You have already joined a café on this connection."


class UnknownEvent(CauserieError):
    code = "unknown_event"
    http_status = 400
    default_message = "Unknown event: %(event)s."


class WebRtcFull(CauserieError):
    code = "webrtc_full"
    http_status = 503
    default_message = "Many parents are here: you are watching the café's broadcast."


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    http_status = 413
    default_message = "The field %(field)s is too large (at most %(max)s bytes)."


class EventFlood(RateLimited):
    default_message = "Too many actions, please wait a moment."


class InvitationEnded(PermissionDenied):
    """Not raised: the text of the `role.changed` notice (revoked by default, or expired)."""

    default_message = "Your invitation has been withdrawn: you now take part as a parent."


class LoginEnded(PermissionDenied):
    """Not raised: the text of the `role.changed` notice when the organiser's login ended
    (logout, a password change)."""

    default_message = "Your organiser session has ended: you now take part as a parent."


class MediaElsewhere(Unavailable):
    code = "media_elsewhere"
    default_message = "This café's media is on another server: reload the page."
