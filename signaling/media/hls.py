"""HLS packaging of the programme: the folder layout of one café and its output spec.

A café's folder holds ``live.m3u8`` (a sliding window of ``window`` segments, written by
FFmpeg's HLS muxer, renamed into place so a reader never sees half a playlist),
``seg-NNNNN.ts`` (every segment, kept for the replay), ``subs.m3u8`` and ``subs-NNNNN.vtt``
(the live captions, `signaling.media.subtitles`) and ``index.m3u8`` (the master playlist
naming both). Segments are cut at the encoder's keyframes, one every
``BroadcastSettings.segment_seconds`` (the encoder's GOP), and last as long.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from signaling.settings import BroadcastSettings

from .encoder import OutputSpec

__all__ = [
    "MASTER",
    "MEDIA",
    "SEGMENT_PATTERN",
    "SUBTITLES",
    "HlsLayout",
    "hls_output",
    "master_playlist",
]

MASTER = "index.m3u8"
MEDIA = "live.m3u8"
SUBTITLES = "subs.m3u8"
SEGMENT_PATTERN = "seg-%05d.ts"


@dataclass(frozen=True, slots=True)
class HlsLayout:
    """The files of one café's HLS folder."""

    folder: Path

    @property
    def master(self) -> Path:
        return self.folder / MASTER

    @property
    def media(self) -> Path:
        return self.folder / MEDIA

    @property
    def subtitles(self) -> Path:
        return self.folder / SUBTITLES

    def segments(self) -> list[Path]:
        """The programme's segments in order (all of them: the replay's material)."""
        return sorted(self.folder.glob("seg-*.ts"))


def hls_output(layout: HlsLayout, settings: BroadcastSettings, *, window: int = 6,
               name: str = "hls") -> OutputSpec:
    """The encoder output that writes the live playlist and segments into the folder."""
    seconds = f"{settings.segment_seconds:g}"
    return OutputSpec(
        name=name,
        url=str(layout.media),
        format="hls",
        options=MappingProxyType({
            "hls_time": seconds,
            "hls_list_size": str(window),
            "hls_segment_filename": str(layout.folder / SEGMENT_PATTERN),
            "hls_flags": "independent_segments+temp_file",
            "hls_segment_type": "mpegts",
        }),
    )


def master_playlist(settings: BroadcastSettings, *, subtitles: bool, language: str,
                    label: str) -> str:
    """The master playlist: the programme, and its captions as a WebVTT rendition."""
    bandwidth = settings.video_bitrate + settings.audio_bitrate
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    extra = ""
    if subtitles:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{_quoted(label)}",'
            f'LANGUAGE="{_quoted(language)}",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,'
            f'URI="{SUBTITLES}"')
        extra = ',SUBTITLES="subs"'
    lines.append(
        f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={bandwidth},"
        f'RESOLUTION={settings.width}x{settings.height},FRAME-RATE={settings.fps:.3f},'
        f'CODECS="avc1.64001f,mp4a.40.2"{extra}')
    lines.append(MEDIA)
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")[:64]

