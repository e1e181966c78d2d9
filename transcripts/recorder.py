"""Recording each speaker's audio of a café to disk, crash-tolerant.

One Ogg/Opus file per speaker per stretch of publishing, cut into parts of about
`part_seconds` (at a quiet moment when possible) so closed parts are transcribed while the
café goes on. Ogg pages are written every `page_seconds` and the file is flushed and fsynced
every `flush_seconds`: after a kill -9 the file is still decodable up to its last page (a
second or so lost at most).

`SpeakerRecorder` is the synchronous core (encoder and file, no awaits, no clock);
`RecorderService` is the async shell: it runs the core on one I/O thread, stores the
`recordings` rows and tells the job queue when a part is closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from transcripts.engine import SAMPLE_RATE

log = logging.getLogger("causerie.transcripts")

PCM = npt.NDArray[np.int16]
BLOCK = 320  # 20 ms


class OggOpusWriter:
    """16 kHz mono int16 in, Ogg/Opus out, written as it goes."""

    def __init__(self, path: Path, bitrate: int = 24_000, page_seconds: float = 0.5) -> None:
        import av

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = path.open("wb")
        self._container: Any = av.open(self._file, "w", format="ogg", options={
            "page_duration": str(int(page_seconds * 1_000_000)), "flush_packets": "1"})
        self._stream: Any = self._container.add_stream("libopus", rate=SAMPLE_RATE,
                                                       layout="mono")
        self._stream.bit_rate = bitrate
        self.samples = 0
        self._av = av

    def write(self, pcm: PCM) -> None:
        if len(pcm) == 0:
            return
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16",
            layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.samples
        self.samples += len(pcm)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    @property
    def duration(self) -> float:
        return self.samples / SAMPLE_RATE


@dataclass(frozen=True)
class PartOpened:
    part: int
    path: Path
    offset: float  # café seconds of the first sample


@dataclass(frozen=True)
class PartClosed:
    part: int
    path: Path
    offset: float
    duration: float


RecorderEvent = PartOpened | PartClosed


def speaker_slug(speaker: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", speaker.lower()).strip("-")
    return slug[:40] or "speaker"


@dataclass
class RecorderPolicy:
    part_seconds: float = 120.0  # aim: cut a part after this long, at a pause
    part_max_seconds: float = 150.0  # hard cut
    # A pause: `min_quiet` seconds of 20 ms blocks all quiet. Measured on espeak-ng French
    # (bench/end_to_transcript.py): pauses between sentences last 0.38-0.54 s, silences
    # inside a sentence (stops, word gaps) 0.18 s at most.
    # Quiet is relative to the room (`NoiseFloor`): a block at most `margin_db` above the
    # noise floor and `contrast_db` below the speech level of the last `floor_seconds`. A
    # real room never reaches a fixed -40 dBFS (a pink-noise floor near -35 dBFS has no
    # block below it): the old rule then only made hard cuts, inside words. Below
    # `quiet_db` a block is quiet whatever the room.
    quiet_db: float = -50.0
    margin_db: float = 6.0
    contrast_db: float = 12.0
    floor_seconds: float = 30.0
    adaptive: bool = True
    min_quiet: float = 0.3
    max_gap: float = 2.0  # a longer hole in the timestamps starts a new part
    flush_seconds: float = 2.0


@dataclass
class NoiseFloor:
    """The room's level over the last `seconds`: its floor (10th percentile of 20 ms
    blocks) and its speech (90th percentile), updated every half second (pure, no clock)."""

    seconds: float = 30.0
    margin_db: float = 6.0
    contrast_db: float = 12.0
    fixed_db: float = -50.0
    _levels: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    _count: int = 0
    threshold_db: float = -50.0

    def __post_init__(self) -> None:
        self._levels = np.full(int(self.seconds * SAMPLE_RATE / BLOCK), np.nan)
        self.threshold_db = self.fixed_db

    def push(self, level_db: float) -> float:
        """Add one block's level; the quiet threshold in force (dBFS)."""
        self._levels[self._count % len(self._levels)] = level_db
        self._count += 1
        if self._count % 25 == 0 and self._count >= 50:  # a second heard at least
            seen = self._levels[~np.isnan(self._levels)]
            floor, speech = np.percentile(seen, [10, 90])
            relative = min(floor + self.margin_db, speech - self.contrast_db)
            self.threshold_db = max(self.fixed_db, float(relative))
        return self.threshold_db


@dataclass
class SpeakerRecorder:
    """One speaker's recording: parts of Ogg/Opus under `folder`, named by café offset."""

    folder: Path
    speaker: str
    policy: RecorderPolicy = field(default_factory=RecorderPolicy)
    writer_factory: Callable[[Path], OggOpusWriter] = OggOpusWriter
    _writer: OggOpusWriter | None = field(default=None, init=False)
    _offset: float = field(default=0.0, init=False)
    _part: int = field(default=0, init=False)
    _since_flush: int = field(default=0, init=False)
    _quiet: int = field(default=0, init=False)  # samples of the current quiet run
    _floor: NoiseFloor | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        p = self.policy
        if p.adaptive:
            self._floor = NoiseFloor(p.floor_seconds, p.margin_db, p.contrast_db, p.quiet_db)

    @property
    def expected(self) -> float:
        """Café time of the next sample if the stream is continuous."""
        return self._offset + (self._writer.duration if self._writer else 0.0)

    def push(self, pcm: PCM, timestamp: float) -> list[RecorderEvent]:
        events: list[RecorderEvent] = []
        pcm = np.asarray(pcm, dtype=np.int16).reshape(-1)
        if self._writer is not None:
            gap = timestamp - self.expected
            if gap > self.policy.max_gap:
                events.extend(self.close())
            elif gap > 0.02:  # a short hole (lost packets): keep the timeline with silence
                self._writer.write(np.zeros(int(gap * SAMPLE_RATE), dtype=np.int16))
            elif gap < -0.02:  # overlap: drop what is already written
                pcm = pcm[int(-gap * SAMPLE_RATE):]
                timestamp -= gap
        p = self.policy
        at = 0
        while at < len(pcm):  # 20 ms blocks: a part is cut inside a pause, not a word
            block = pcm[at:at + BLOCK]
            if self._writer is None:
                events.append(self._open(timestamp + at / SAMPLE_RATE))
            writer = self._writer
            assert writer is not None
            writer.write(block)
            at += len(block)
            level = _loudness_db(block)
            threshold = self._floor.push(level) if self._floor is not None else p.quiet_db
            self._quiet = self._quiet + len(block) if level < threshold else 0
            self._since_flush += len(block)
            if self._since_flush >= p.flush_seconds * SAMPLE_RATE:
                writer.flush()
                self._since_flush = 0
            length = writer.duration
            if length >= p.part_max_seconds or (
                    length >= p.part_seconds and self._quiet >= p.min_quiet * SAMPLE_RATE):
                events.extend(self.close())
        return events

    def _open(self, timestamp: float) -> PartOpened:
        self._part += 1
        self._offset = round(timestamp, 3)
        path = self.folder / f"{speaker_slug(self.speaker)}-{int(self._offset * 1000):09d}.ogg"
        self._writer = self.writer_factory(path)
        self._since_flush = 0
        return PartOpened(self._part, path, self._offset)

    def close(self) -> list[RecorderEvent]:
        writer, self._writer = self._writer, None
        self._quiet = 0
        if writer is None:
            return []
        writer.close()
        return [PartClosed(self._part, writer.path, self._offset, round(writer.duration, 3))]


def _loudness_db(pcm: PCM) -> float:
    if len(pcm) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) / 32768.0
    return 20 * float(np.log10(rms + 1e-9))


class RecordingStore(Protocol):
    """What the recorder needs from persistence (`TranscriptRepository` implements it)."""

    async def create_recording(self, cafe_id: int, participant_id: int | None, speaker: str,
                               path: str, offset_seconds: float) -> int: ...

    async def close_recording(self, recording_id: int, duration_seconds: float) -> None: ...


ClosedFn = Callable[[int, int], Awaitable[None]]  # (cafe_id, recording_id)


class SpeakerRecording:
    """One publisher's recording (fed by `transcripts.feed.SpeakerFeed`).

    `push` is synchronous and cheap (one 16 kHz chunk, with the café time of its first
    sample); `RecorderService.close_recording` when the speaker stops publishing.
    """

    def __init__(self, service: RecorderService, cafe_id: int, participant_id: int | None,
                 speaker: str) -> None:
        self.cafe_id = cafe_id
        self.participant_id = participant_id
        self.speaker = speaker
        self.service = service
        self._core = SpeakerRecorder(service.root / f"cafe-{cafe_id}", speaker,
                                     service.policy)
        self._queue: asyncio.Queue[tuple[PCM, float] | None] = asyncio.Queue(maxsize=3000)
        self._ids: dict[int, int] = {}
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def push(self, pcm: PCM, timestamp: float) -> None:
        try:
            self._queue.put_nowait((pcm, timestamp))
        except asyncio.QueueFull:
            log.warning("recorder backlog full, chunk dropped cafe=%s participant=%s",
                        self.cafe_id, self.participant_id)

    async def close(self) -> None:
        await self._queue.put(None)
        await self._task

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self._queue.get()
            batch: list[tuple[PCM, float]] = []
            done = item is None
            if item is not None:
                batch.append(item)
            while not done and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    done = True
                else:
                    batch.append(nxt)
            try:
                events = await loop.run_in_executor(self.service.io, self._write, batch, done)
                for event in events:
                    await self._persist(event)
            except Exception:
                log.exception("recorder failed cafe=%s participant=%s", self.cafe_id,
                              self.participant_id)
            if done:
                return

    def _write(self, batch: list[tuple[PCM, float]], done: bool) -> list[RecorderEvent]:
        events: list[RecorderEvent] = []
        for pcm, ts in batch:
            events.extend(self._core.push(pcm, ts))
        if done:
            events.extend(self._core.close())
        return events

    async def _persist(self, event: RecorderEvent) -> None:
        store = self.service.store
        if isinstance(event, PartOpened):
            self._ids[event.part] = await store.create_recording(
                self.cafe_id, self.participant_id, self.speaker, str(event.path), event.offset)
            log.info("recording started cafe=%s participant=%s path=%s offset=%.2f",
                     self.cafe_id, self.participant_id, event.path, event.offset)
            return
        recording_id = self._ids.pop(event.part)
        await store.close_recording(recording_id, event.duration)
        log.info("recording closed cafe=%s participant=%s recording=%s duration=%.1f",
                 self.cafe_id, self.participant_id, recording_id, event.duration)
        if self.service.on_closed is not None:
            await self.service.on_closed(self.cafe_id, recording_id)


class RecorderService:
    """Opens a `SpeakerRecording` per publisher; one I/O thread writes every file in order."""

    def __init__(self, store: RecordingStore, root: Path, *,
                 on_closed: ClosedFn | None = None,
                 policy: RecorderPolicy | None = None) -> None:
        self.store = store
        self.root = root
        self.on_closed = on_closed
        self.policy = policy or RecorderPolicy()
        self.io = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                        thread_name_prefix="recorder")
        self._open: set[SpeakerRecording] = set()

    def open(self, cafe_id: int, participant_id: int | None, speaker: str
             ) -> SpeakerRecording:
        recording = SpeakerRecording(self, cafe_id, participant_id, speaker)
        self._open.add(recording)
        return recording

    async def close_recording(self, recording: SpeakerRecording) -> None:
        """Idempotent: the last part is closed (and queued for the final transcript)."""
        if recording in self._open:
            self._open.discard(recording)
            await recording.close()

    async def close_cafe(self, cafe_id: int) -> None:
        for recording in [r for r in self._open if r.cafe_id == cafe_id]:
            await self.close_recording(recording)

    async def aclose(self) -> None:
        for recording in list(self._open):
            await self.close_recording(recording)
        self.io.shutdown(wait=True)
