"""`MediaStats`: the counters of one process's media plane (exported on /metrics)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MediaStats"]


@dataclass(slots=True)
class MediaStats:
    """Counters of the media plane, for /metrics (all only grow)."""

    video_frames_received: int = 0  # decoded frames from publishers
    video_frames_dropped: int = 0  # decoded frames dropped: the shared encoder fell behind
    audio_frames_received: int = 0
    audio_frames_muted: int = 0  # dropped because the publisher is muted
    tap_chunks: int = 0  # chunks handed to audio taps
    frames_in: int = 0  # frames handed to slots (after encoding)
    frames_out: int = 0  # frame deliveries, summed over subscribers
    packets_out: int = 0  # RTP packets sent, summed over subscribers
    bytes_out: int = 0  # RTP bytes (before SRTP) sent, summed over subscribers
    retransmissions: int = 0
    keyframes_requested: int = 0
    send_errors: int = 0
