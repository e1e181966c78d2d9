"""The café's video replay: its programme's HLS segments (the expert's video, every stage
speaker's audio mixed) remuxed after the café into one MP4 the transcript page plays, the
redacted stretches silenced.

Layout of ``data_dir/programme/<café id>/`` (written by ``server.broadcast`` while the café
is live): one folder per run of the programme (``r1``, ``r2``... a restart mid-café starts
a new one) holding ``seg-NNNNN.ts``, and ``runs.json``: each run's name and the café second
its first picture was. After the café: ``replay.mp4`` (video copied, audio decoded, zeroed
where redacted, encoded again: AAC) and ``replay.json`` (the café second of its time 0 and
the redactions it silences). A replay whose redactions are not the café's current ones is
stale: it is not played, and is built again (`VideoReplays.current`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer, OutputContainer

log = logging.getLogger("causerie.transcripts")

__all__ = ["ProgrammeRuns", "Run", "VideoReplay", "VideoReplays", "build_video_replay",
           "programme_folder", "read_video_replay"]

RUNS = "runs.json"
REPLAY = "replay.mp4"
META = "replay.json"
Span = tuple[float, float]


def programme_folder(data_dir: Path, cafe_id: int) -> Path:
    return data_dir / "programme" / str(int(cafe_id))


@dataclass(frozen=True, slots=True)
class Run:
    name: str  # "r1", "r2"...
    cafe_seconds: float  # café second of the run's programme second 0


class ProgrammeRuns:
    """``runs.json`` of a café's programme folder: its runs, oldest first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / RUNS

    def read(self) -> list[Run]:
        try:
            rows = json.loads(self.path.read_text())
            return [Run(str(r["run"]), float(r["cafe_seconds"])) for r in rows]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def add(self, cafe_seconds: float) -> Run:
        runs = self.read()
        run = Run(f"r{len(runs) + 1}", round(cafe_seconds, 3))
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_json(self.path, [{"run": r.name, "cafe_seconds": r.cafe_seconds}
                                for r in [*runs, run]])
        return run

    def segments(self, run: Run) -> list[Path]:
        return sorted((self.folder / run.name).glob("seg-*.ts"))


@dataclass(frozen=True, slots=True)
class VideoReplay:
    path: Path
    cafe_seconds: float  # café second of the video's time 0
    silence: tuple[Span, ...]
    duration: float


def read_video_replay(folder: Path) -> VideoReplay | None:
    path = folder / REPLAY
    try:
        meta = json.loads((folder / META).read_text())
        silence = tuple((float(a), float(b)) for a, b in meta["silence"])
        replay = VideoReplay(path, float(meta["cafe_seconds"]), silence,
                             float(meta["duration"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return replay if path.is_file() else None


def _spans(silence: Sequence[Span]) -> tuple[Span, ...]:
    return tuple((round(float(a), 3), round(float(b), 3)) for a, b in silence)


def build_video_replay(folder: Path, silence: Sequence[Span] = ()) -> VideoReplay | None:
    """Remux every run's segments into ``replay.mp4``, ``silence`` (café seconds) zeroed;
    None when there is no programme. Blocking: run it in a thread."""
    runs = ProgrammeRuns(folder)
    found = [(run, runs.segments(run)) for run in runs.read()]
    found = [(run, segments) for run, segments in found if segments]
    if not found:
        return None
    spans = _spans(silence)
    start = found[0][0].cafe_seconds
    tmp = folder / f".{REPLAY}.tmp"
    output = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
    assert isinstance(output, OutputContainer)
    end = 0.0
    try:
        with av.open(str(found[0][1][0])) as first:
            assert isinstance(first, InputContainer)
            video = output.add_stream_from_template(first.streams.video[0])
            audio = output.add_stream("aac", rate=48_000, layout="mono")
            audio.bit_rate = 64_000
        video.time_base = Fraction(1, 90_000)
        for run, segments in found:
            end = max(end, _remux_run(segments, run.cafe_seconds - start, start, spans,
                                      output, video, audio))
        for packet in audio.encode(None):
            output.mux(packet)
    finally:
        output.close()
    os.replace(tmp, folder / REPLAY)
    _write_json(folder / META, {"cafe_seconds": start, "silence": [list(s) for s in spans],
                                "duration": round(end, 3)})
    log.info("video replay built folder=%s seconds=%.1f silenced=%d", folder.name, end,
             len(spans))
    return VideoReplay(folder / REPLAY, start, spans, end)


def _remux_run(segments: list[Path], shift: float, start: float, spans: tuple[Span, ...],
               output: OutputContainer, video: av.stream.Stream,
               audio: av.audio.stream.AudioStream) -> float:
    """One run's segments into the output, ``shift`` seconds after the replay's time 0;
    the end (seconds) of what it wrote."""
    origin: float | None = None  # the run's first timestamp (seconds)
    end = 0.0
    for segment in segments:
        try:
            container = av.open(str(segment))
        except (av.FFmpegError, OSError) as exc:
            log.warning("video replay leaves out segment=%s: %s", segment.name, exc)
            continue
        assert isinstance(container, InputContainer)
        with container:
            for packet in container.demux():
                if packet.pts is None or packet.dts is None or packet.time_base is None:
                    continue
                seconds = float(packet.pts * packet.time_base)
                if origin is None:
                    origin = seconds
                at = seconds - origin + shift
                if packet.stream.type == "video":
                    base = packet.time_base
                    offset = round((shift - origin) / base)
                    out = av.Packet(bytes(packet))
                    out.pts, out.dts = packet.pts + offset, packet.dts + offset
                    out.time_base = base
                    out.is_keyframe = packet.is_keyframe
                    out.stream = video
                    output.mux(out)
                    end = max(end, at + float((packet.duration or 0) * base))
                elif packet.stream.type == "audio":
                    for frame in packet.decode():
                        assert isinstance(frame, av.AudioFrame)
                        frame_at = float(frame.pts * frame.time_base) - origin + shift \
                            if frame.pts is not None and frame.time_base is not None else at
                        samples = _silenced(frame, start + frame_at, spans)
                        samples.pts = round(frame_at * 48_000)
                        samples.time_base = Fraction(1, 48_000)
                        for encoded in audio.encode(samples):
                            output.mux(encoded)
                        end = max(end, frame_at + frame.samples / 48_000)
    return end


def _silenced(frame: av.AudioFrame, cafe_at: float, spans: tuple[Span, ...]
              ) -> av.AudioFrame:
    """The frame as mono float samples, zeroed where it overlaps a redacted span."""
    data = frame.to_ndarray().astype(np.float32)
    if data.ndim == 2 and data.shape[0] > 1 and frame.format.is_planar:
        data = data.mean(axis=0, keepdims=True)
    data = data.reshape(1, -1)
    rate = frame.sample_rate or 48_000
    count = data.shape[1]
    for lo, hi in spans:
        a = max(0, int((lo - cafe_at) * rate))
        b = min(count, int(np.ceil((hi - cafe_at) * rate)))
        if b > a:
            data[:, a:b] = 0.0
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout="mono")
    out.sample_rate = rate
    return out


class VideoReplays:
    """The video replays of one process: the current one of a café, rebuilt (once at a
    time, in a thread) when its redactions changed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._building: dict[int, asyncio.Task[None]] = {}

    def folder(self, cafe_id: int) -> Path:
        return programme_folder(self.data_dir, cafe_id)

    def current(self, cafe_id: int, silence: Sequence[Span]) -> VideoReplay | None:
        """The café's replay if it silences exactly ``silence``; else None, and a rebuild
        is started when the café has a programme."""
        folder = self.folder(cafe_id)
        replay = read_video_replay(folder)
        wanted = _spans(silence)
        if replay is not None and replay.silence == wanted:
            return replay
        if (replay is not None or ProgrammeRuns(folder).read()) \
                and cafe_id not in self._building:
            self._building[cafe_id] = asyncio.get_running_loop().create_task(
                self._build(cafe_id, wanted))
        return None

    async def build(self, cafe_id: int, silence: Sequence[Span] = ()) -> VideoReplay | None:
        return await asyncio.to_thread(build_video_replay, self.folder(cafe_id), silence)

    async def _build(self, cafe_id: int, silence: tuple[Span, ...]) -> None:
        try:
            await self.build(cafe_id, silence)
        except Exception:
            log.exception("video replay failed cafe=%s", cafe_id)
        finally:
            self._building.pop(cafe_id, None)

    async def aclose(self) -> None:
        tasks = list(self._building.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)
