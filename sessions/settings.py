"""The settings sessions owns, as the server's config composes them.

`Limits` is what the services apply to questions, votes, chat, the stage and reports (the
``limits`` section of `server.config.Config` is a `signaling.settings.SignalingLimits`, this
model with the realtime edge's own limits added); `DestinationLimits` is what a café's
simulcast destinations are checked against (`server.config.SimulcastConfig` extends it).
One shape per setting: the services take these models as the config holds them, and the
defaults serve tests and embedded use. Pure: pydantic only, no I/O.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DestinationLimits", "Limits"]


class Limits(BaseModel):
    """Sizes and rates of what participants send (`CAUSERIE_LIMITS__*`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question_max_length: int = Field(500, ge=20, le=5000)
    questions_per_minute: int = Field(3, ge=1, le=100)
    votes_per_second: int = Field(5, ge=1, le=100)
    chat_max_length: int = Field(500, ge=20, le=5000)
    chat_per_minute: int = Field(10, ge=1, le=600)
    reject_reason_max_length: int = Field(300, ge=10, le=2000)
    pseudonym_max_length: int = Field(40, ge=3, le=40)
    stage_max: int = Field(2, ge=1, le=8)
    # a parent's reports (safeguarding), per minute: a flood gets `rate_limited`
    reports_per_minute: int = Field(5, ge=1, le=600)


class DestinationLimits(BaseModel):
    """What a café's RTMP(S) destinations may be (`sessions.destinations`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_destinations: int = Field(5, ge=0, le=20)
    url_max_length: int = Field(300, ge=20, le=300)
    key_max_length: int = Field(200, ge=8, le=500)
