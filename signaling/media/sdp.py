"""Shape checks of session descriptions received from browsers, before aiortc sees them."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp

from .errors import InvalidSdp, SdpTooLarge, TooManyTracks, VideoNotAllowed

__all__ = ["OfferShape", "check_answer", "check_offer"]


@dataclass(frozen=True, slots=True)
class OfferShape:
    """What a publisher's offer sends: an audio and/or a video section."""

    audio: bool
    video: bool


def _parse(text: str, *, limit: int) -> aiortc_sdp.SessionDescription:
    if not isinstance(text, str):
        raise InvalidSdp()
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise SdpTooLarge(limit=limit)
    if not text.startswith("v=0"):
        raise InvalidSdp()
    try:
        parsed = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc raises ValueError, KeyError, IndexError...
        raise InvalidSdp() from exc
    if not parsed.media:
        raise InvalidSdp()
    for media in parsed.media:
        if media.kind not in ("audio", "video"):
            raise InvalidSdp()
        ice = media.ice  # aiortc copies session-level attributes into each section
        dtls = media.dtls
        if ice is None or not ice.usernameFragment or not ice.password:
            raise InvalidSdp()
        if dtls is None or not dtls.fingerprints:
            raise InvalidSdp()
    return parsed


def check_offer(
    text: str, *, limit: int, max_tracks: int, allow_video: bool
) -> OfferShape:
    """Validate a publisher's offer; raise a `signaling.media.errors` error if refused.

    Checks, in order: size, syntax, media sections count (``max_tracks``), at most one
    section of each kind, video only when ``allow_video``.
    """
    parsed = _parse(text, limit=limit)
    if len(parsed.media) > max_tracks:
        raise TooManyTracks(limit=max_tracks)
    kinds = [m.kind for m in parsed.media]
    if kinds.count("audio") > 1 or kinds.count("video") > 1:
        raise TooManyTracks(limit=max_tracks)
    sending = [m.kind for m in parsed.media if m.direction in (None, "sendonly", "sendrecv")]
    if "video" in kinds and not allow_video:
        raise VideoNotAllowed()
    return OfferShape(audio="audio" in sending, video="video" in sending)


def check_answer(text: str, *, limit: int, sections: int) -> None:
    """Validate a subscriber's answer to the server's offer of ``sections`` sections."""
    parsed = _parse(text, limit=limit)
    if len(parsed.media) != sections:
        raise InvalidSdp()
