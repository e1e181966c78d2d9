"""Errors of the domain, translated at the edges (socket.io error acks, HTTP statuses).

Hierarchy::

    CauserieError                 code          HTTP
     ├── InvalidInput             invalid_input 400   a payload or form value out of bounds
     ├── NotFound                 not_found     404   no such café, question, participant
     ├── PermissionDenied         forbidden     403   the permission table says no
     │    ├── Banned              banned        403   this browser or invitation is banned
     │    └── InvitationInvalid   bad_invitation 403  expired, revoked, forged or for another café
     ├── InvalidTransition        invalid_state 409   the state machine refuses this step
     ├── RateLimited              rate_limited  429   too many actions in the window
     └── Unavailable              unavailable   503   a backend (database, media) is not there

`message` is an English msgid; the edge passes it through the user's gettext catalog, with
`params` interpolated after translation.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CauserieError(Exception):
    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Something went wrong."

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.message = message or self.default_message
        self.params = params
        super().__init__(self.message % params if params else self.message)


class InvalidInput(CauserieError):
    code = "invalid_input"
    http_status = 400
    default_message = "This input is not valid."


class NotFound(CauserieError):
    code = "not_found"
    http_status = 404
    default_message = "Not found."


class PermissionDenied(CauserieError):
    code = "forbidden"
    http_status = 403
    default_message = "You are not allowed to do this."


class Banned(PermissionDenied):
    code = "banned"
    default_message = "You have been removed from this café."


class InvitationInvalid(PermissionDenied):
    code = "bad_invitation"
    default_message = "This invitation link is not valid or has expired."


class InvalidTransition(CauserieError):
    code = "invalid_state"
    http_status = 409
    default_message = "This action is not possible now."


class RateLimited(CauserieError):
    code = "rate_limited"
    http_status = 429
    default_message = "Too many actions, please wait a moment."


class Unavailable(CauserieError):
    code = "unavailable"
    http_status = 503
    default_message = "The service is temporarily unavailable."
