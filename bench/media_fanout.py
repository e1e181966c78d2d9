"""Media fan-out benchmark: one publisher (640x480 30 fps VP8 + Opus), N subscribers.

Compares, in the same run, Causerie's `MediaRouter` (one decode and one encode per
publisher, one RTP serialization per frame, per subscriber only SRTP + sendto) with aiortc's
plain `MediaRelay` (one VP8 + Opus encode per subscriber) as the baseline.

Layout: the server in its own process pinned to the first core (``--server-core``); the
publisher in its own process and the subscribers in several processes (``--per-process``
each, niced) pinned to the last core (``--client-core``). Every subscriber is a real WebRTC
peer (aiortc `RTCPeerConnection`: ICE, DTLS, SRTP, RTCP receiver reports). All but one skip
aiortc's receive path, which decodes every frame in a thread whether or not the track is
read: they decrypt each SRTP packet and count it, and count the frames whose packets all
arrived (VP8 start-of-frame to marker bit, no sequence gap). The first subscriber of a run
decodes for real.

The publisher counts the video frames and audio packets it actually sends; a step at N
passes when, over the same window (one CLOCK_MONOTONIC interval for every process), the
publisher kept >= 95 % of 30 fps and every subscriber got >= 95 % of the publisher's video
frames and audio packets and lost < 1 % of its packets (RTP sequence numbers), and the
server stayed below 0.95 core (a saturated server queues: MediaRelay's per-subscriber
queues are unbounded, so counts can look fine while latency grows). Server CPU comes from
/proc/<pid>/stat (all its threads).

    .venv/bin/python bench/media_fanout.py [--quick]

Everything runs on 127.0.0.1. Run time: about 1.5 minutes with --quick, 3-4 without; every
mode stops at its first failing step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fractions
import json
import multiprocessing as mp
import os
import platform
import random
import sys
import time
import urllib.request
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LOOPBACK = ("127.0.0.1",)
FPS = 30
VIDEO_PT = 97
AUDIO_PT = 96
BUCKET = 0.05  # seconds: events are counted per bucket of CLOCK_MONOTONIC time
SATURATED = 0.95  # server cores: a step above fails (its queues grow, latency with them)
RR_INTERVAL = 1.0
CLIENT_NICE = 3
# Other work (cores) on the server's or the clients' core above which a step is marked
# contended: a failure then says little about the forwarding.
CONTENDED = 0.15  # receiver reports per subscriber per second, as aiortc's receivers


def _pin(core: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {core})


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_delay(pid: int) -> float:
    """Seconds the process's threads waited for a CPU while runnable (/proc schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def _core_busy(core: int) -> float:
    """CPU seconds one core spent busy (anyone's work, and time stolen by the hypervisor)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(
                int, line.split()[1:9]
            )
            return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _machine() -> str:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"nproc={os.cpu_count()}, CPU: {model}, Python {platform.python_version()}"


# -- server process -------------------------------------------------------------------------


def server_main(mode: str, reply: Connection, core: int) -> None:
    _pin(core)
    log = os.environ.get("MEDIA_FANOUT_LOG")
    if log:
        import logging

        logging.basicConfig(
            filename=log, level=logging.INFO, format="%(relativeCreated)d %(name)s %(message)s"
        )
    asyncio.run(_serve(mode, reply))


async def _serve(mode: str, reply: Connection) -> None:
    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay
    from aiortc.mediastreams import MediaStreamTrack

    from signaling.media import (
        IceSettings,
        MediaRouter,
        build_configuration,
        offered_host_addresses,
    )

    router = MediaRouter(ice=IceSettings(host_addresses=LOOPBACK), video_bitrate=500_000)
    relay = MediaRelay()
    sources: dict[str, MediaStreamTrack] = {}
    pcs: dict[int, RTCPeerConnection] = {}

    async def publish(request: web.Request) -> web.Response:
        offer = await request.text()
        if mode == "shared":
            return web.Response(text=await router.publish(1, 1, offer, allow_video=True))
        pc = RTCPeerConnection(build_configuration())
        pcs[0] = pc
        pc.on("track", lambda track: sources.__setitem__(track.kind, track))
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        with offered_host_addresses(LOOPBACK):
            await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        return web.Response(text=pc.localDescription.sdp)

    async def subscribe(request: web.Request) -> web.Response:
        pid = int(request.query["id"])
        if mode == "shared":
            return web.Response(text=await router.subscribe(1, pid))
        pc = RTCPeerConnection(build_configuration())
        pcs[pid] = pc
        pc.addTrack(relay.subscribe(sources["video"]))
        pc.addTrack(relay.subscribe(sources["audio"]))
        with offered_host_addresses(LOOPBACK):
            await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        return web.Response(text=pc.localDescription.sdp)

    async def answer(request: web.Request) -> web.Response:
        pid = int(request.query["id"])
        text = await request.text()
        if mode == "shared":
            await router.accept_answer(1, pid, text)
        else:
            await pcs[pid].setRemoteDescription(RTCSessionDescription(text, "answer"))
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(dataclasses.asdict(router.stats))

    app = web.Application()
    app.add_routes(
        [web.post("/publish", publish), web.post("/subscribe", subscribe),
         web.post("/answer", answer), web.get("/stats", stats)]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
    reply.send(port)
    await asyncio.get_running_loop().run_in_executor(None, reply.recv)  # wait for "stop"
    await router.close()
    for pc in pcs.values():
        await pc.close()
    await runner.cleanup()


# -- windows of counts --------------------------------------------------------------------


class Tally:
    """Counts of events per `BUCKET` of monotonic time, summed over any window later."""

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}

    def add(self, n: int = 1) -> None:
        key = int(time.monotonic() / BUCKET)
        self.buckets[key] = self.buckets.get(key, 0) + n

    def window(self, t0: float, t1: float) -> int:
        b0, b1 = int(t0 / BUCKET), int(t1 / BUCKET)
        return sum(v for k, v in self.buckets.items() if b0 <= k < b1)

    def forget_before(self, t: float) -> None:
        b = int(t / BUCKET)
        for k in [k for k in self.buckets if k < b]:
            del self.buckets[k]


# -- publisher process ----------------------------------------------------------------------


def publisher_main(port: int, core: int, commands: Connection) -> None:
    _pin(core)
    asyncio.run(_publish(port, commands))


async def _publish(port: int, commands: Connection) -> None:
    import aiohttp
    import numpy as np
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
    from av import AudioFrame, VideoFrame

    from signaling.media import build_configuration, offered_host_addresses

    # Smooth moving content (a scrolling ramp and a bar): cheap for the publisher to encode,
    # so the publisher's core keeps 30 fps and the figures measure the server.
    xs = np.arange(640)[None, :]
    ys = np.arange(480)[:, None]
    pictures = []
    for i in range(FPS):
        y = ((xs + ys // 2 + i * 8) % 256).astype(np.uint8)
        y[:, (i * 20) % 600 : (i * 20) % 600 + 40] = 235
        yuv = np.concatenate([y, np.full((240, 640), 128, np.uint8)])
        pictures.append(VideoFrame.from_ndarray(yuv, format="yuv420p"))

    class Camera(VideoStreamTrack):
        count = 0

        async def recv(self) -> VideoFrame:
            pts, time_base = await self.next_timestamp()
            frame = pictures[self.count % FPS]
            self.count += 1
            frame.pts = pts
            frame.time_base = time_base
            return frame

    tone = (np.sin(np.arange(960) * 2 * np.pi / 48) * 6000).astype(np.int16).reshape(1, -1)

    class Microphone(AudioStreamTrack):
        sent = 0
        t0 = 0.0

        async def recv(self) -> AudioFrame:
            if self.sent == 0:
                self.t0 = time.monotonic()
            else:
                await asyncio.sleep(self.t0 + self.sent / 48000 - time.monotonic())
            frame = AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.pts = self.sent
            frame.sample_rate = 48000
            frame.time_base = fractions.Fraction(1, 48000)
            self.sent += 960
            return frame

    pc = RTCPeerConnection(build_configuration())
    pc.addTrack(Microphone())
    pc.addTrack(Camera())
    with offered_host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None

    # Count what really leaves: RTP packets through the (bundled) DTLS transport, video
    # frames by their marker bit, audio by packet; RTCP and retransmissions (RTX) aside.
    video_sent, audio_sent = Tally(), Tally()
    dtls = pc.getTransceivers()[0].sender.transport
    send_rtp = dtls._send_rtp

    async def counting_send_rtp(data: bytes) -> None:
        await send_rtp(data)
        if len(data) >= 12 and not 192 <= data[1] <= 223:
            pt = data[1] & 0x7F
            if pt == VIDEO_PT and data[1] & 0x80:
                video_sent.add()
            elif pt == AUDIO_PT:
                audio_sent.add()

    dtls._send_rtp = counting_send_rtp  # type: ignore[method-assign]
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/publish"
        async with http.post(url, data=pc.localDescription.sdp) as response:
            answer = await response.text()
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    loop = asyncio.get_running_loop()
    while True:
        command: tuple[Any, ...] = await loop.run_in_executor(None, commands.recv)
        if command[0] == "report":
            _, t0, t1 = command
            commands.send((video_sent.window(t0, t1), audio_sent.window(t0, t1)))
            video_sent.forget_before(t1)
            audio_sent.forget_before(t1)
        else:
            await pc.close()
            commands.send(True)
            return


# -- subscriber processes -------------------------------------------------------------------


class Stream:
    """One received RTP stream: packets, sequence gaps and (video) complete frames."""

    __slots__ = ("frame_ok", "frame_ts", "frames", "highest", "lost", "lost_total",
                 "next_seq", "packets", "received_total", "ssrc")

    def __init__(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self.highest = seq - 1  # extended sequence number of the last packet
        self.packets = Tally()
        self.lost = Tally()
        self.frames = Tally()
        self.received_total = 0
        self.lost_total = 0
        self.frame_ts = -1
        self.frame_ok = False
        self.next_seq = -1

    def packet(self, seq: int) -> None:
        delta = (seq - self.highest) & 0xFFFF
        if delta == 0 or delta >= 0x8000:
            return  # duplicate or late: not counted twice
        if delta > 1:
            self.lost.add(delta - 1)
            self.lost_total += delta - 1
        self.highest += delta
        self.received_total += 1
        self.packets.add()

    def vp8(self, seq: int, timestamp: int, marker: int, descriptor: int) -> None:
        """Follow frames: complete when start-of-partition-0 .. marker arrive gap-free."""
        if descriptor & 0x10 and not descriptor & 0x07:
            self.frame_ts = timestamp
            self.frame_ok = True
        elif timestamp != self.frame_ts or seq != self.next_seq:
            self.frame_ok = False
        self.next_seq = (seq + 1) & 0xFFFF
        if marker and self.frame_ok and timestamp == self.frame_ts:
            self.frames.add()
            self.frame_ok = False


class LightSubscriber:
    """A real WebRTC peer (aiortc ICE + DTLS + SRTP + RTCP) that counts instead of decoding."""

    def __init__(self) -> None:
        self.video: Stream | None = None
        self.audio: Stream | None = None
        self.srtp_errors = 0
        self.rtcp_ssrc = random.getrandbits(32) or 1
        self.dtls: Any = None

    def rtp(self, data: bytes) -> None:
        """One decrypted RTP packet."""
        b0, b1 = data[0], data[1]
        pt = b1 & 0x7F
        seq = (data[2] << 8) | data[3]
        ssrc = int.from_bytes(data[8:12], "big")
        if pt == VIDEO_PT:
            stream = self.video
            if stream is None or stream.ssrc != ssrc:
                stream = self.video = Stream(ssrc, seq)
            stream.packet(seq)
            offset = 12 + 4 * (b0 & 0x0F)
            if b0 & 0x10:  # header extension
                offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
            if offset < len(data):
                timestamp = int.from_bytes(data[4:8], "big")
                stream.vp8(seq, timestamp, b1 >> 7, data[offset])
        elif pt == AUDIO_PT:
            stream = self.audio
            if stream is None or stream.ssrc != ssrc:
                if stream is not None and stream.packets.buckets:
                    return  # another audio slot (nobody on stage in this benchmark)
                stream = self.audio = Stream(ssrc, seq)
            stream.packet(seq)

    def receiver_report(self) -> bytes | None:
        """An RTCP RR for the streams received (what aiortc's receivers send)."""
        from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket

        reports = [
            RtcpReceiverInfo(
                ssrc=s.ssrc,
                fraction_lost=0,
                packets_lost=s.lost_total,
                highest_sequence=s.highest & 0xFFFFFFFF,
                jitter=0,
                lsr=0,
                dlsr=0,
            )
            for s in (self.video, self.audio)
            if s is not None
        ]
        if not reports:
            return None
        return bytes(RtcpRrPacket(ssrc=self.rtcp_ssrc, reports=reports))

    def report(self, t0: float, t1: float) -> tuple[int, int, int, int]:
        """(video frames, audio packets, packets lost, packets received) in the window."""
        frames = audio = lost = received = 0
        for kind, stream in (("video", self.video), ("audio", self.audio)):
            if stream is None:
                continue
            if kind == "video":
                frames = stream.frames.window(t0, t1)
            else:
                audio = stream.packets.window(t0, t1)
            lost += stream.lost.window(t0, t1)
            received += stream.packets.window(t0, t1)
            for tally in (stream.packets, stream.lost, stream.frames):
                tally.forget_before(t1)
        return frames, audio, lost, received


class DecodingSubscriber:
    """A plain aiortc peer whose tracks are read and decoded (checks the stream decodes)."""

    def __init__(self) -> None:
        self.frames = Tally()
        self.audio = Tally()

    def report(self, t0: float, t1: float) -> tuple[int, int, int, int]:
        result = (self.frames.window(t0, t1), self.audio.window(t0, t1), 0, 0)
        self.frames.forget_before(t1)
        self.audio.forget_before(t1)
        return result


def client_main(port: int, core: int, commands: Connection) -> None:
    _pin(core)
    # Slightly below the publisher (same core), so it keeps its 30 fps; not much lower, or
    # any other work on the machine starves the subscribers and they lose packets.
    os.nice(CLIENT_NICE)
    asyncio.run(_clients(port, commands))


async def _clients(port: int, commands: Connection) -> None:
    import aiohttp
    import pylibsrtp
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    from signaling.media import build_configuration, offered_host_addresses

    subscribers: list[LightSubscriber | DecodingSubscriber] = []
    pcs: list[RTCPeerConnection] = []
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    http = aiohttp.ClientSession()
    base = f"http://127.0.0.1:{port}"

    async def decode(track: MediaStreamTrack, tally: Tally) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                tally.add()

    async def no_receive(parameters: object) -> None:
        """Stands in for `RTCRtpReceiver.receive`: no decoder thread, no jitter buffer."""

    async def connect(pid: int, decoding: bool) -> None:
        pc = RTCPeerConnection(build_configuration())
        tracks: list[MediaStreamTrack] = []
        pc.on("track", tracks.append)
        async with http.post(f"{base}/subscribe?id={pid}") as response:
            offer = await response.text()
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        sub: LightSubscriber | DecodingSubscriber
        if decoding:
            sub = DecodingSubscriber()
            audio_seen = False
            for track in tracks:
                if track.kind == "video":
                    tasks.append(asyncio.create_task(decode(track, sub.frames)))
                else:  # read every track: an unread aiortc track queues frames forever
                    tally = sub.audio if not audio_seen else Tally()
                    audio_seen = True
                    tasks.append(asyncio.create_task(decode(track, tally)))
        else:
            light = sub = LightSubscriber()
            transceivers = pc.getTransceivers()
            for transceiver in transceivers:
                transceiver.receiver.receive = no_receive  # type: ignore[method-assign]
            dtls = light.dtls = transceivers[0].receiver.transport
            connection = dtls.transport._connection
            original = connection.data_received
            srtp_error = pylibsrtp.Error

            def srtp_in(data: bytes) -> bool:
                # SRTP (not SRTCP, not DTLS, not STUN): decrypt and count here; aiortc's
                # DTLS transport still gets the handshake and the server's RTCP.
                if (
                    len(data) > 12
                    and 127 < data[0] < 192
                    and not 192 <= data[1] <= 223
                    and dtls._rx_srtp is not None
                ):
                    try:
                        plain = dtls._rx_srtp.unprotect(data)
                    except srtp_error:
                        light.srtp_errors += 1
                        return True
                    light.rtp(plain)
                    return True
                return False

            def on_data(data: bytes, component: int) -> None:
                if not srtp_in(data):
                    original(data, component)

            connection.data_received = on_data  # type: ignore[method-assign]
        with offered_host_addresses(LOOPBACK):
            await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        if isinstance(sub, LightSubscriber):
            # aioice tries to parse every datagram as STUN (a raised ValueError per media
            # packet) before handing it on: look at SRTP first, on the gathered sockets.
            for protocol in connection._protocols:
                received = protocol.datagram_received

                def on_datagram(data: bytes | str, addr: Any, received: Any = received) -> None:
                    if not (isinstance(data, bytes) and srtp_in(data)):
                        received(data, addr)

                protocol.datagram_received = on_datagram  # type: ignore[method-assign]
        async with http.post(f"{base}/answer?id={pid}", data=pc.localDescription.sdp) as r:
            await r.text()
        subscribers.append(sub)
        pcs.append(pc)

    async def receiver_reports() -> None:
        while True:
            lights = [s for s in subscribers if isinstance(s, LightSubscriber)]
            pause = RR_INTERVAL / max(1, len(lights))
            for sub in lights:
                packet = sub.receiver_report()
                if packet is not None and sub.dtls is not None:
                    with contextlib.suppress(ConnectionError):
                        await sub.dtls._send_rtp(packet)
                await asyncio.sleep(pause)
            if not lights:
                await asyncio.sleep(RR_INTERVAL)

    tasks.append(asyncio.create_task(receiver_reports()))
    while True:
        command: tuple[Any, ...] = await loop.run_in_executor(None, commands.recv)
        if command[0] == "add":
            _, first_id, count_, decoding_first = command
            for start in range(0, count_, 8):
                await asyncio.gather(
                    *(
                        connect(first_id + i, decoding_first and i == 0)
                        for i in range(start, min(count_, start + 8))
                    )
                )
            commands.send(len(subscribers))
        elif command[0] == "report":
            _, t0, t1 = command
            commands.send(
                [
                    (isinstance(s, DecodingSubscriber), *s.report(t0, t1),
                     s.srtp_errors if isinstance(s, LightSubscriber) else 0)
                    for s in subscribers
                ]
            )
        else:
            for task in tasks:
                task.cancel()
            for pc in pcs:
                await pc.close()
            await http.close()
            commands.send(True)
            return


# -- coordinator ----------------------------------------------------------------------------


@dataclass
class Step:
    n: int
    cpu: float  # server cores
    client_cpu: float  # publisher + subscriber processes, cores
    source_fps: float  # video frames the publisher sent per second
    worst_frames: float  # fraction of the publisher's video frames, worst subscriber
    worst_audio: float  # fraction of the publisher's audio packets, worst subscriber
    worst_loss: float  # fraction of packets lost, worst subscriber
    passed: bool
    contended: bool  # the server or the clients waited long for a CPU (other work)


def _ask(proc: Any, conn: Connection, command: tuple[Any, ...], timeout: float = 120) -> Any:
    """Send a command to a child process and wait for its answer (it may die meanwhile)."""
    conn.send(command)
    deadline = time.monotonic() + timeout
    while not conn.poll(0.5):
        if not proc.is_alive():
            raise RuntimeError(f"process {proc.pid} died (exit code {proc.exitcode})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer to {command[0]}")
    return conn.recv()


def run_mode(
    mode: str,
    steps: list[int],
    window: float,
    server_core: int,
    client_core: int,
    per_process: int,
) -> list[Step]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=server_main, args=(mode, child, server_core), daemon=True)
    server.start()
    port = parent.recv()
    pub_conn, pub_child = ctx.Pipe()
    publisher = ctx.Process(
        target=publisher_main, args=(port, client_core, pub_child), daemon=True
    )
    publisher.start()
    time.sleep(3)  # media flowing to the server
    clients: list[tuple[Any, Connection, list[int]]] = []  # process, pipe, [connected]
    results: list[Step] = []
    try:
        _steps(mode, steps, window, server_core, client_core, per_process, port, server,
               publisher, pub_conn, clients, results, ctx)
    except (RuntimeError, TimeoutError, OSError, EOFError) as exc:
        print(f"  {mode:6} stopped: {exc}", flush=True)
    finally:
        for proc, conn, _ in [*clients, (publisher, pub_conn, [])]:
            with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
                _ask(proc, conn, ("quit",), timeout=10)
            proc.terminate()
        with contextlib.suppress(OSError):
            parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()
    return results


def _steps(
    mode: str,
    steps: list[int],
    window: float,
    server_core: int,
    client_core: int,
    per_process: int,
    port: int,
    server: Any,
    publisher: Any,
    pub_conn: Connection,
    clients: list[tuple[Any, Connection, list[int]]],
    results: list[Step],
    ctx: Any,
) -> None:
    connected = 0
    for n in steps:
        while connected < n:
            if not clients or clients[-1][2][0] >= per_process:
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(
                    target=client_main, args=(port, client_core, theirs), daemon=True
                )
                proc.start()
                clients.append((proc, mine, [0]))
            proc, conn, load = clients[-1]
            room = min(n - connected, per_process - load[0])
            load[0] = _ask(proc, conn, ("add", 1000 + connected, room, connected == 0))
            connected += room
        time.sleep(2.5)  # new subscribers get their keyframe, DTLS set-up settles
        pids = [publisher.pid or 0, *(proc.pid or 0 for proc, _, _ in clients)]
        stats0 = _server_stats(port)
        t0 = time.monotonic()
        cpu0 = _cpu_seconds(server.pid or 0)
        wait0 = _run_delay(server.pid or 0)
        client0 = sum(_cpu_seconds(pid) for pid in pids)
        client_wait0 = sum(_run_delay(pid) for pid in pids)
        busy0 = (_core_busy(server_core), _core_busy(client_core))
        time.sleep(window)
        t1 = time.monotonic()
        cpu = (_cpu_seconds(server.pid or 0) - cpu0) / (t1 - t0)
        wait = (_run_delay(server.pid or 0) - wait0) / (t1 - t0)
        client_cpu = (sum(_cpu_seconds(pid) for pid in pids) - client0) / (t1 - t0)
        client_wait = (sum(_run_delay(pid) for pid in pids) - client_wait0) / (t1 - t0)
        # Other work on the two cores (whatever is not the server, resp. the clients).
        other_server_core = (_core_busy(server_core) - busy0[0]) / (t1 - t0) - cpu
        other_client_core = (
            (_core_busy(client_core) - busy0[1]) / (t1 - t0) - client_cpu
        )
        stats1 = _server_stats(port)
        time.sleep(0.3)  # packets already in socket buffers are counted (after t1: not)
        sent_frames, sent_audio = _ask(publisher, pub_conn, ("report", t0, t1))
        reports = []
        for proc, conn, _ in clients:
            reports.extend(_ask(proc, conn, ("report", t0, t1)))
        source_fps = sent_frames / (t1 - t0)
        worst_frames = min(r[1] for r in reports) / max(1, sent_frames)
        decoder = [r[1] / max(1, sent_frames) for r in reports if r[0]]
        light = sorted(r[1] for r in reports if not r[0])
        worst_audio = min(r[2] for r in reports) / max(1, sent_audio)
        worst_loss = max(r[3] / max(1, r[3] + r[4]) for r in reports)
        srtp_errors = sum(r[5] for r in reports)
        passed = (
            cpu < SATURATED
            and source_fps >= 0.95 * FPS
            and worst_frames >= 0.95
            and worst_audio >= 0.95
            and worst_loss < 0.01
        )
        contended = max(other_server_core, other_client_core) > CONTENDED
        step = Step(n, cpu, client_cpu, source_fps, worst_frames, worst_audio,
                    worst_loss, passed, contended)
        results.append(step)
        print(
            f"  {mode:6} N={n:4d}  server {cpu:5.3f} cores (threads waited "
            f"{wait * 1000:3.0f} ms/s)  clients {client_cpu:4.2f} (waited "
            f"{client_wait * 1000:4.0f} ms/s)  other work {other_server_core:4.2f}"
            f"/{other_client_core:4.2f} cores  "
            f"sent {source_fps:4.1f} fps  worst: video {worst_frames * 100:5.1f}% "
            f"audio {worst_audio * 100:5.1f}% loss {worst_loss * 100:5.2f}%"
            f"{f'  srtp errors {srtp_errors}' if srtp_errors else ''}"
            f"  (decoding subscriber {decoder[0] * 100 if decoder else 0:.1f}%, light "
            f"min/median {f'{light[0]}/{light[len(light) // 2]}' if light else '-'}"
            f" of {sent_frames})  "
            f"{'ok' if passed else 'FAIL'}{' (contended)' if contended else ''}",
            flush=True,
        )
        if mode == "shared":
            delta = {k: stats1[k] - stats0[k] for k in stats1}
            print(
                f"         server: video frames received {delta['video_frames_received']}"
                f", dropped before the encoder {delta['video_frames_dropped']}"
                f", retransmissions {delta['retransmissions']}"
                f", keyframes {delta['keyframes_requested']}",
                flush=True,
            )
        if not passed:
            break


def _server_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=30) as response:
        return dict(json.load(response))


def _slope(steps: list[Step]) -> tuple[float, float]:
    """Least-squares fit cpu = a + b * n over the passing steps (uncontended if any)."""
    ok = [s for s in steps if s.passed]
    ok = [s for s in ok if not s.contended] if sum(not s.contended for s in ok) >= 2 else ok
    ok = ok or steps
    if len(ok) < 2:
        s = ok[0]
        return 0.0, s.cpu / s.n
    mean_n = sum(s.n for s in ok) / len(ok)
    mean_c = sum(s.cpu for s in ok) / len(ok)
    b = sum((s.n - mean_n) * (s.cpu - mean_c) for s in ok) / sum(
        (s.n - mean_n) ** 2 for s in ok
    )
    return mean_c - b * mean_n, b


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, shorter windows")
    parser.add_argument("--per-process", type=int, default=50,
                        help="subscribers per client process (default 50)")
    parser.add_argument("--max", type=int, default=300,
                        help="largest N tried for MediaRouter (default 300)")
    parser.add_argument("--only", choices=("relay", "shared"), help="run one forwarding")
    parser.add_argument("--steps", help="comma-separated N to try (with --only)")
    parser.add_argument("--server-core", type=int, help="default: the first core")
    parser.add_argument("--client-core", type=int, help="default: the last core")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core = cores[0] if args.server_core is None else args.server_core
    client_core = cores[-1] if args.client_core is None else args.client_core
    window = 3.0 if args.quick else 5.0
    relay_steps = [1, 2, 4, 6] if args.quick else [1, 2, 3, 4, 5, 6, 8]
    shared_steps = [50, 100, 200, 300] if args.quick else [
        25, 50, 100, 150, 200, 250, 300, 400, 500]
    shared_steps = [n for n in shared_steps if n <= args.max]
    if args.steps:
        steps = [int(n) for n in args.steps.split(",")]
        relay_steps = shared_steps = steps
    print(f"machine: {_machine()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"server on core {server_core}, publisher and subscribers ({args.per_process} per "
          f"process) on core {client_core}; window {window:.0f} s per step; "
          f"640x480 {FPS} fps VP8 + Opus")
    summary: dict[str, tuple[float, float, int, list[Step]]] = {}
    for mode, steps in (("relay", relay_steps), ("shared", shared_steps)):
        if args.only and mode != args.only:
            summary[mode] = (0.0, 0.0, 0, [])
            continue
        results = run_mode(mode, steps, window, server_core, client_core, args.per_process)
        base, per_sub = _slope(results)
        best = max((s.n for s in results if s.passed), default=0)
        summary[mode] = (base, per_sub, best, results)
    print()
    print("forwarding                 server CPU (cores)          largest N passing")
    for mode, label in (("relay", "aiortc MediaRelay"), ("shared", "Causerie MediaRouter")):
        base, per_sub, best, results = summary[mode]
        if not results:
            continue
        last = results[-1] if results else None
        if last is not None and not last.passed:
            why = ", contended: inconclusive" if last.contended else ""
            note = f" (N={last.n} failed, server at {last.cpu:.2f} core{why})"
        elif last is not None:
            note = f" (largest N tried; server at {last.cpu:.2f} core)"
        else:
            note = ""
        print(f"{label:26} {base:5.3f} + {per_sub * 1000:6.2f} ms/s x N   {best}{note}")
    relay_best = summary["relay"][2]
    shared_best = summary["shared"][2]
    if relay_best and shared_best:
        print(f"ratio of largest N: {shared_best / relay_best:.1f}x")
    per_sub = summary["shared"][1]
    if per_sub > 0 and summary["shared"][3]:
        base = summary["shared"][0]
        print(f"subscribers per server core from the fit: {(1 - base) / per_sub:.0f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
