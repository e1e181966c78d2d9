"""The live captions as the HLS programme's WebVTT rendition.

`LiveSubtitles` keeps the captions of one café's programme and, each time a stretch of
``segment_seconds`` has passed, writes that stretch's WebVTT segment (``subs-NNNNN.vtt``,
the cues that overlap it) and the subtitle playlist (``subs.m3u8``, the last ``window``
segments). A caption is shown from the moment it reached the server (live captions come
a few seconds after the words: the programme shows them when the room did) for its
spoken duration, between ``min_seconds`` and ``max_seconds``.

Cue times are programme seconds; ``X-TIMESTAMP-MAP`` ties programme second 0 to the
MPEG-TS time of the programme's first picture (``mpegts_start``, read from the first
video segment by `first_video_pts`), as HLS requires.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import av

__all__ = ["Cue", "LiveSubtitles", "first_video_pts", "vtt_time"]

SEGMENT_NAME = "subs-{:05d}.vtt"


@dataclass(frozen=True, slots=True)
class Cue:
    start: float  # programme seconds
    end: float
    text: str


def vtt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _cue_text(text: str) -> str:
    # WebVTT cue text: no blank line, no "-->", and its markup characters escaped.
    flat = " ".join(text.split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "-->", "->")


def first_video_pts(segment: Path) -> int | None:
    """The 90 kHz MPEG-TS time of the first picture of a segment (None if unreadable)."""
    try:
        with av.open(str(segment)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    return round(packet.pts * packet.time_base * 90_000)
    except (av.FFmpegError, IndexError, OSError):
        return None
    return None


class LiveSubtitles:
    """One programme's captions, written as HLS WebVTT segments into ``folder``."""

    def __init__(self, folder: Path, segment_seconds: float, *, window: int = 6,
                 min_seconds: float = 2.0, max_seconds: float = 7.0,
                 mpegts_start: int = 0) -> None:
        self.folder = folder
        self.segment_seconds = segment_seconds
        self.window = window
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.mpegts_start = mpegts_start
        self.next_segment = 0
        self._cues: deque[Cue] = deque()
        self._written: deque[int] = deque()
        self.ended = False

    def add(self, text: str, at: float, spoken: float) -> Cue | None:
        """A caption that reached the server at programme second ``at``, ``spoken`` long."""
        text = _cue_text(text)
        if not text:
            return None
        length = min(self.max_seconds, max(self.min_seconds, spoken))
        cue = Cue(at, at + length, text)
        self._cues.append(cue)
        return cue

    def advance(self, now: float) -> int:
        """Write every segment that ended by programme second ``now``; how many."""
        written = 0
        while (self.next_segment + 1) * self.segment_seconds <= now:
            self._write_segment(self.next_segment)
            self.next_segment += 1
            written += 1
        if written:
            self._write_playlist()
        return written

    def end(self) -> None:
        """The programme ended: the playlist says so."""
        self.ended = True
        self._write_playlist()

    def _write_segment(self, index: int) -> None:
        lo, hi = index * self.segment_seconds, (index + 1) * self.segment_seconds
        while self._cues and self._cues[0].end < lo - self.max_seconds:
            self._cues.popleft()
        lines = ["WEBVTT",
                 f"X-TIMESTAMP-MAP=MPEGTS:{self.mpegts_start},LOCAL:00:00:00.000", ""]
        for cue in self._cues:
            if cue.start < hi and cue.end > lo:
                lines += [f"{vtt_time(cue.start)} --> {vtt_time(cue.end)}", cue.text, ""]
        _write(self.folder / SEGMENT_NAME.format(index), "\n".join(lines) + "\n")
        self._written.append(index)
        while len(self._written) > self.window:
            self._written.popleft()

    def _write_playlist(self) -> None:
        if not self._written and not self.ended:
            return
        first = self._written[0] if self._written else self.next_segment
        target = max(1, round(self.segment_seconds + 0.49))
        lines = ["#EXTM3U", "#EXT-X-VERSION:6", f"#EXT-X-TARGETDURATION:{target}",
                 f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for index in self._written:
            lines += [f"#EXTINF:{self.segment_seconds:.6f},", SEGMENT_NAME.format(index)]
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        _write(self.folder / "subs.m3u8", "\n".join(lines) + "\n")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
