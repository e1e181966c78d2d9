"""`ProgrammeEncoder`: a café's programme encoded once (H.264 + AAC, PyAV), muxed to outputs.

One thread per café encodes: libx264 (``preset``, ``tune=zerolatency``, a fixed GOP, no
scene-cut keyframes, so segments are cut at a steady pace) and the native AAC encoder
(48 kHz mono). The encoded packets go to every `Output`, each with its own thread and
bounded queue: an HLS folder on disk, an RTMP ingest (``flv``), an MP4... so a slow or
failing destination never holds up the others nor the encode. The event loop only calls
`offer` (a deque append under a lock).

Bounds: ticks waiting for the encoder are at most ``queue_seconds`` of frames; beyond that
the oldest waiting picture is dropped (its audio is still encoded), and past twice that
whole ticks (``stats``). An output's queue holds ``max_packets``; when full it is emptied
and the output waits for the next keyframe.

An `OutputSpec` with ``retry=True`` reopens its destination after an error, with back-off
(1 s doubling to ``max_backoff``), starting again at a keyframe; without it, an error ends
that output (``status.state == "failed"``). With ``process=True`` (network destinations) the
output's thread muxes FLV into a child process that pushes it (`push_process`: PyAV opens
a network output holding the GIL, which a slow destination would hold for the whole
server). Logs name an output by ``spec.name``, never by its URL (an RTMP URL carries a
stream key).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from signaling.settings import BroadcastSettings

from .programme import AUDIO_RATE, ProgrammeTick
from .push_process import PushChild

logger = logging.getLogger("causerie.media")

__all__ = [
    "EncodedPacket",
    "EncoderStats",
    "Output",
    "OutputSpec",
    "OutputStatus",
    "ProgrammeEncoder",
]

OutputState = Literal["starting", "live", "retrying", "failed", "closed"]


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """Where the encoded programme goes: ``av.open(url, "w", format=format, options=...)``.

    ``name`` names it in logs and statuses (never the URL). ``container_options`` are the
    muxer's own (``hls_time``...); ``retry``: reopen after errors (network destinations);
    ``process``: push from a child process (``flv`` to a network URL), which must be live
    within ``open_timeout`` seconds.
    """

    name: str
    url: str
    format: str
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    retry: bool = False
    max_backoff: float = 30.0
    max_packets: int = 2_000
    open_timeout: float = 10.0
    process: bool = False


class PushFailed(Exception):
    """A push process ended: its message is the child's (no URL)."""


@dataclass(slots=True)
class OutputStatus:
    """What an output is doing, for an admin page (read from any thread)."""

    state: OutputState = "starting"
    error: str = ""  # the last error's class and message (no URL)
    reconnects: int = 0
    packets: int = 0
    dropped: int = 0  # packets dropped because the destination was behind or down
    since: float = field(default_factory=time.time)  # wall clock of the last state change
    retry_at: float = 0.0  # wall clock of the next attempt, while "retrying"


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """An encoded packet, copied out of PyAV's buffer (so every output muxes its own)."""

    kind: Literal["video", "audio"]
    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    keyframe: bool


@dataclass(slots=True)
class EncoderStats:
    """Counters of one programme encode (all only grow; ``cpu_seconds`` is the thread's)."""

    ticks: int = 0
    pictures_dropped: int = 0  # the encoder was behind: the tick's picture left out
    ticks_dropped: int = 0  # far behind: the whole tick left out
    video_packets: int = 0
    audio_packets: int = 0
    keyframes: int = 0
    cpu_seconds: float = 0.0
    last_latency: float = 0.0  # seconds from a tick's making to its packets leaving


class Output:
    """One destination of the encoded programme, muxed on its own thread."""

    def __init__(self, spec: OutputSpec, video: Stream, audio: Stream) -> None:
        self.spec = spec
        self.status = OutputStatus()
        self._templates = (video, audio)
        self._queue: deque[EncodedPacket | None] = deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"causerie-out-{spec.name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, packet: EncodedPacket) -> None:
        """Queue a packet (encoder thread); a full queue is emptied and counted."""
        with self._ready:
            if len(self._queue) >= self.spec.max_packets:
                self.status.dropped += len(self._queue)
                self._queue.clear()
            self._queue.append(packet)
            self._ready.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, close the destination (an HLS playlist gets its end)."""
        with self._ready:
            self._queue.append(None)
            self._ready.notify()
        self._thread.join(timeout)
        self._stop.set()

    def wait_closed(self, timeout: float) -> None:
        """Block until the output's thread ended (closed by its encoder), or ``timeout``."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _next(self) -> EncodedPacket | None:
        with self._ready:
            while not self._queue:
                self._ready.wait()
            return self._queue.popleft()

    def _set(self, state: OutputState, error: str = "") -> None:
        self.status.state = state
        self.status.since = time.time()
        if error:
            self.status.error = error

    def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                ended = self._mux_until_error()
            except Exception as exc:  # any muxer or network error: the output's own
                error = (str(exc) if isinstance(exc, PushFailed)
                         else f"{type(exc).__name__}: {exc}").replace(self.spec.url, "<url>")
                logger.warning("output failed name=%s: %s", self.spec.name, error)
                if not self.spec.retry:
                    self._set("failed", error)
                    self._drain()
                    return
                if self.status.state == "live":  # it had worked: start the back-off again
                    backoff = 1.0
                self.status.retry_at = time.time() + backoff
                self._set("retrying", error)
                self.status.reconnects += 1
                if self._wait_backoff(backoff):
                    return
                backoff = min(backoff * 2, self.spec.max_backoff)
                continue
            if ended:
                self._set("closed")
                return

    def _wait_backoff(self, seconds: float) -> bool:
        """Wait, dropping what arrives meanwhile; True when the output was closed."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._ready:
                if None in self._queue:
                    self._set("closed")
                    return True
                self.status.dropped += len(self._queue)
                self._queue.clear()
                self._ready.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        return False

    def _drain(self) -> None:
        while self._next() is not None:
            self.status.dropped += 1

    def _mux_until_error(self) -> bool:
        """Open, mux from the next keyframe on; True at the end of the programme."""
        spec = self.spec
        if spec.process:
            return self._push_until_error()
        options = dict(spec.options)
        container = av.open(spec.url, "w", format=spec.format, options=options,
                            timeout=spec.open_timeout)
        assert isinstance(container, OutputContainer)
        try:
            return self._mux(container, None)
        finally:
            try:
                container.close()
            except Exception as exc:  # closing a broken connection
                logger.info("output close name=%s: %s", spec.name, type(exc).__name__)

    def _push_until_error(self) -> bool:
        """The same, as FLV into a push process (see `push_process`)."""
        child = PushChild(self.spec.url, self.spec.open_timeout)
        ended = False
        try:
            # each packet on to the child at once (a still picture makes tiny packets,
            # which would wait for a full buffer)
            container = av.open(child.stdin, "w", format="flv", options={
                "flvflags": "no_duration_filesize", "flush_packets": "1"})
            assert isinstance(container, OutputContainer)
            try:
                ended = self._mux(container, child)
            finally:
                try:
                    container.close()
                except Exception:  # the child is gone: said below
                    ended = False
            if not ended:
                child.ended.wait(2.0)  # its last words
                raise PushFailed(child.error or "the push process ended")
            child.close()
            return True
        except OSError as exc:  # a write to a child that ended
            child.ended.wait(2.0)
            raise PushFailed(child.error or f"{type(exc).__name__}: {exc}") from None
        finally:
            if not ended:
                child.kill()

    def _mux(self, container: OutputContainer, child: PushChild | None) -> bool:
        """Mux from the next keyframe on; True at the end of the programme, False when
        ``child`` ended."""
        video = container.add_stream_from_template(self._templates[0])
        audio = container.add_stream_from_template(self._templates[1])
        streams = {"video": video, "audio": audio}
        started = False
        while True:
            packet = self._next()
            if packet is None:
                return True
            if child is not None:
                if child.ended.is_set():
                    return False
                if child.live.is_set() and self.status.state != "live":
                    self._set("live")
            if not started:
                if packet.kind != "video" or not packet.keyframe:
                    self.status.dropped += 1
                    continue
                started = True
                if child is None:
                    self._set("live")
            out = av.Packet(packet.data)
            out.pts, out.dts = packet.pts, packet.dts
            out.time_base = packet.time_base
            out.is_keyframe = packet.keyframe
            out.stream = streams[packet.kind]
            container.mux(out)
            self.status.packets += 1


class ProgrammeEncoder:
    """Encode a café's programme once, for every output; `offer` ticks from the loop.

    ``settings``: the operator's (size, rate, bitrates, keyframe interval). ``preset`` and
    ``threads`` (one core at most per café) are libx264's; ``queue_seconds``: ticks waiting
    for the encoder beyond this are dropped (pictures first)."""

    def __init__(self, settings: BroadcastSettings, label: str, *, preset: str = "veryfast",
                 threads: int = 1, queue_seconds: float = 1.0) -> None:
        self.settings = settings
        self.label = label  # for logs and thread names: "cafe=12"
        self.preset = preset
        self.threads = threads
        self.stats = EncoderStats()
        self.outputs: list[Output] = []
        self._ticks: deque[ProgrammeTick | None] = deque()
        self._ready = threading.Condition()
        self._limit = max(1, round(queue_seconds * settings.fps))
        self._source = av.open(os.devnull, "w", format="null")
        self._video, self._audio = self._open_codecs()
        self._black = self._black_frame()
        self._last: tuple[av.VideoFrame | None, av.VideoFrame | None] = (None, None)
        self._thread = threading.Thread(target=self._run, name=f"causerie-enc-{label}",
                                        daemon=True)
        self._started = False

    def _open_codecs(self) -> tuple[VideoStream, AudioStream]:
        s = self.settings
        video = self._source.add_stream("libx264", rate=s.fps, options={
            "preset": self.preset, "tune": "zerolatency", "g": str(s.gop),
            "keyint_min": str(s.gop), "sc_threshold": "0", "threads": str(self.threads),
            "bf": "0",
        })
        video.width, video.height, video.pix_fmt = s.width, s.height, "yuv420p"
        video.bit_rate = s.video_bitrate
        # Parameter sets as extradata: every muxer (flv, mp4, mpegts) gets them from there.
        video.codec_context.flags |= av.codec.context.Flags.global_header
        audio = self._source.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        audio.bit_rate = s.audio_bitrate
        audio.codec_context.flags |= av.codec.context.Flags.global_header
        self._source.start_encoding()
        return video, audio

    def _black_frame(self) -> av.VideoFrame:
        s = self.settings
        planes = np.full((s.height * 3 // 2, s.width), 128, dtype=np.uint8)
        planes[: s.height] = 16
        return av.VideoFrame.from_ndarray(planes, format="yuv420p")

    # -- the loop's side ----------------------------------------------------------------

    def add_output(self, spec: OutputSpec) -> Output:
        """Start muxing to ``spec`` (from the next keyframe, at most one GOP away)."""
        output = Output(spec, self._video, self._audio)
        output.start()
        with self._ready:
            self.outputs = [*self.outputs, output]
        logger.info("output added %s name=%s format=%s", self.label, spec.name, spec.format)
        return output

    def remove_output(self, output: Output, timeout: float = 5.0) -> None:
        """Stop muxing to ``output`` and close it (blocks up to ``timeout``: call it from a
        thread when the destination is remote)."""
        with self._ready:
            self.outputs = [o for o in self.outputs if o is not output]
        output.close(timeout)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def offer(self, tick: ProgrammeTick) -> None:
        """Queue a tick (a `ProgrammeSink`); drop pictures, then ticks, when behind."""
        with self._ready:
            ticks = self._ticks
            if len(ticks) >= self._limit:
                for i, queued in enumerate(ticks):
                    if queued is not None and queued.video is not None:
                        ticks[i] = _without_picture(queued)
                        self.stats.pictures_dropped += 1
                        break
                else:
                    if len(ticks) >= 2 * self._limit:
                        ticks.popleft()
                        self.stats.ticks_dropped += 1
            ticks.append(tick)
            self._ready.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Encode what is queued, flush, close every output. Blocking: call from a thread."""
        with self._ready:
            self._ticks.append(None)
            self._ready.notify()
        if self._started:
            self._thread.join(timeout)
        else:
            self._finish()

    # -- the encoder thread -------------------------------------------------------------

    def _run(self) -> None:
        started = time.thread_time()
        try:
            while True:
                with self._ready:
                    while not self._ticks:
                        self._ready.wait()
                    tick = self._ticks.popleft()
                if tick is None:
                    break
                self._encode(tick)
                self.stats.cpu_seconds = time.thread_time() - started
        except Exception:
            logger.exception("programme encoder failed %s", self.label)
        finally:
            self._finish()
            self.stats.cpu_seconds = time.thread_time() - started

    def _finish(self) -> None:
        try:
            self._send(self._video.encode(None), "video")
            self._send(self._audio.encode(None), "audio")
        except Exception:
            logger.exception("programme encoder flush failed %s", self.label)
        for output in self.outputs:
            output.close()
        self._source.close()
        logger.info("programme encoder closed %s ticks=%d pictures_dropped=%d cpu=%.1fs",
                    self.label, self.stats.ticks, self.stats.pictures_dropped,
                    self.stats.cpu_seconds)

    def _encode(self, tick: ProgrammeTick) -> None:
        s = self.settings
        frame = self._picture(tick.video)
        frame.pts = tick.index
        frame.time_base = Fraction(1, s.fps)
        self._send(self._video.encode(frame), "video")
        if tick.audio is not None:
            audio = av.AudioFrame.from_ndarray(tick.audio.reshape(1, -1), format="s16",
                                               layout="mono")
            audio.sample_rate = AUDIO_RATE
            audio.pts = tick.audio_start
            audio.time_base = Fraction(1, AUDIO_RATE)
            self._send(self._audio.encode(audio), "audio")
        self.stats.ticks += 1
        self.stats.last_latency = time.monotonic() - tick.produced_at

    def _picture(self, source: av.VideoFrame | None) -> av.VideoFrame:
        """The tick's picture at the programme's size (letterboxed), converted once."""
        if source is None:
            return self._black
        last_source, last_frame = self._last
        if source is last_source and last_frame is not None:
            return last_frame
        frame = fit(source, self.settings.width, self.settings.height)
        self._last = (source, frame)
        return frame

    def _send(self, packets: list[av.Packet[Stream]], kind: Literal["video", "audio"]) -> None:
        outputs = self.outputs
        for packet in packets:
            if packet.size == 0:
                continue
            assert packet.time_base is not None
            encoded = EncodedPacket(kind, bytes(packet), packet.pts, packet.dts,
                                    packet.time_base, packet.is_keyframe)
            if kind == "video":
                self.stats.video_packets += 1
                self.stats.keyframes += packet.is_keyframe
            else:
                self.stats.audio_packets += 1
            for output in outputs:
                output.offer(encoded)


def _without_picture(tick: ProgrammeTick) -> ProgrammeTick:
    return ProgrammeTick(tick.index, None, tick.audio, tick.audio_start, tick.produced_at)


def fit(source: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """``source`` scaled into ``width`` x ``height`` yuv420p, aspect kept (black bars)."""
    sw, sh = source.width, source.height
    if sw * height == sh * width:
        return source.reformat(width=width, height=height, format="yuv420p")
    scale = min(width / sw, height / sh)
    fw = max(2, int(sw * scale) // 2 * 2)
    fh = max(2, int(sh * scale) // 2 * 2)
    inner = source.reformat(width=fw, height=fh, format="yuv420p")
    y = np.full((height, width), 16, dtype=np.uint8)
    u = np.full((height // 2, width // 2), 128, dtype=np.uint8)
    v = np.full((height // 2, width // 2), 128, dtype=np.uint8)
    x0, y0 = (width - fw) // 2 // 2 * 2, (height - fh) // 2 // 2 * 2
    y[y0:y0 + fh, x0:x0 + fw] = _plane(inner, 0, fw, fh)
    u[y0 // 2:(y0 + fh) // 2, x0 // 2:(x0 + fw) // 2] = _plane(inner, 1, fw // 2, fh // 2)
    v[y0 // 2:(y0 + fh) // 2, x0 // 2:(x0 + fw) // 2] = _plane(inner, 2, fw // 2, fh // 2)
    planes = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    return av.VideoFrame.from_ndarray(planes.reshape(height * 3 // 2, width),
                                      format="yuv420p")


def _plane(frame: av.VideoFrame, index: int, width: int, height: int) -> np.ndarray:
    plane = frame.planes[index]
    data = np.frombuffer(memoryview(plane), dtype=np.uint8)
    return data.reshape(-1, plane.line_size)[:height, :width]
