"""HLS benchmark: the programme's encode, its listing delay, the viewers aiohttp serves per
core beside nginx, and glass-to-glass in Chromium with hls.js.

1. **Encode**: one café's programme at 640x480 30 fps (a fake camera: a scrolling picture
   with sensor-like noise and the frame number as a barcode, and a tone) through the
   product's `Programme` and `ProgrammeEncoder` into an HLS folder, in real time for
   ``--seconds``. The cost is the process CPU (all threads, /proc) minus the same fake
   camera into a `Programme` whose sink does nothing (the baseline, same run); the encoder
   thread is also shown alone (its own thread clock). Listing delay: a watcher polls
   ``live.m3u8`` every 10 ms; for each new segment, from its first picture's (worst) and
   last picture's (best) arrival at the programme to the playlist naming it. A starved
   encoder drops pictures (and then costs less): the offline line queues 300 pictures at
   once and reports the encoder thread's CPU time per second of programme, none dropped.
2. **Serving**: the same kind of folder served by the product (`causerie serve`, its
   ``/cafes/<slug>/live/`` route: middlewares, the live check, its caches) and by nginx
   (Debian's, one worker, sendfile, the same cache headers), and by a bare aiohttp app (one
   route, the files from memory: aiohttp's own cost), one after the other, to the
   same simulated players: each fetches the media playlist and the newest segment once a
   segment duration (what hls.js does at the live edge). The playlist slides by one
   segment a second (the bench writes it, as the muxer would). Viewers per core = the
   viewers the answered requests stand for (requests a second / 2) / the server's CPU (its
   processes, /proc). When the players themselves are starved of CPU (a loaded machine)
   they ask less than they should; the line says so (segments < 95 % or a playlist p95
   over 0.5 s) and the figure is then a cost per request more than a capacity.
3. **Glass-to-glass**: a live encode served by a plain aiohttp static server; Chromium plays
   it with the room's hls.js settings; each painted frame's barcode is read back from its
   pixels (WebCodecs `VideoFrame.copyTo`, the luma plane): delay = when it was painted -
   when the fake camera handed it to the programme (one wall clock).

    .venv/bin/python bench/hls.py [--quick] [--viewers N] [--no-browser]

Run it at normal priority; it prints the load average with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signaling.media.encoder import ProgrammeEncoder
from signaling.media.hls import HlsLayout, hls_output
from signaling.media.programme import Programme, ProgrammeTick
from signaling.media.taps import (
    AudioChunk,
    AudioTapCallback,
    VideoChunk,
    VideoTapCallback,
)
from signaling.settings import BroadcastSettings

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
W, H, FPS = 640, 480, 30
BITS = 16
BLOCK = W // BITS


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# -- the fake camera ---------------------------------------------------------------------


class FakeCamera:
    """A `TapSource`: 640x480 pictures at 30 fps (a scrolling ramp with sensor-like noise,
    the frame number as a barcode on top) and a 440 Hz tone in 20 ms frames, handed to the
    taps in real time."""

    def __init__(self) -> None:
        self.audio: list[AudioTapCallback] = []
        self.video: list[VideoTapCallback] = []
        ramp = (np.arange(W, dtype=np.int32)[None, :] * 200 // W + 16).astype(np.uint8)
        self._luma = np.repeat(ramp, H, axis=0)
        self.started_wall = 0.0  # time.time() of frame 0
        self._rng = np.random.default_rng(7)
        self._task: asyncio.Task[None] | None = None

    def add_audio_tap(self, cafe_id: int, callback: AudioTapCallback) -> Callable[[], None]:
        self.audio.append(callback)
        return lambda: self.audio.remove(callback)

    def add_video_tap(self, cafe_id: int, callback: VideoTapCallback) -> Callable[[], None]:
        self.video.append(callback)
        return lambda: self.video.remove(callback)

    def picture(self, index: int) -> av.VideoFrame:
        planes = np.empty((H * 3 // 2, W), dtype=np.uint8)
        planes[:H] = np.roll(self._luma, index * 4, axis=1)
        # A camera's sensor noise: the encoder spends its bitrate as on a real picture.
        planes[BLOCK:H] += self._rng.integers(0, 24, size=(H - BLOCK, W), dtype=np.uint8)
        planes[H:] = 128
        for bit in range(BITS):
            value = 235 if (index >> bit) & 1 else 16
            planes[0:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = value
        return av.VideoFrame.from_ndarray(planes, format="yuv420p")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        start = time.monotonic()
        self.started_wall = time.time()
        frame_index = audio_index = 0
        while True:
            now = time.monotonic()
            while frame_index <= (now - start) * FPS:
                chunk = VideoChunk(1, 1, time.monotonic(), self.picture(frame_index))
                for video_tap in list(self.video):
                    video_tap(chunk)
                frame_index += 1
            while audio_index <= (now - start) * 50:
                t = (np.arange(960) + audio_index * 960) / 48_000
                pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                frame.sample_rate = 48_000
                frame.pts = audio_index * 960
                frame.time_base = fractions.Fraction(1, 48_000)
                audio = AudioChunk(1, 1, time.monotonic(), frame, "expert")
                for audio_tap in list(self.audio):
                    audio_tap(audio)
                audio_index += 1
            await asyncio.sleep(max(0.0, start + frame_index / FPS - time.monotonic()))


# -- 1. the encode and its listing delay -------------------------------------------------


@dataclass
class EncodeResult:
    seconds: float
    process_cpu: float
    baseline_cpu: float
    encoder_thread: float
    pictures_dropped: int
    listing_first: list[float] = field(default_factory=list)  # first picture -> listed
    listing_last: list[float] = field(default_factory=list)  # last picture -> listed
    load: str = ""


def _watch_playlist(path: Path, started: float, stop: threading.Event,
                    first: list[float], last: list[float]) -> None:
    seen: set[str] = set()
    pattern = re.compile(r"seg-(\d+)\.ts")
    while not stop.is_set():
        try:
            text = path.read_text()
        except OSError:
            text = ""
        now = time.monotonic()
        for match in pattern.finditer(text):
            name = match.group(0)
            if name in seen:
                continue
            seen.add(name)
            number = int(match.group(1))
            # Segment N holds ticks N*FPS .. N*FPS+FPS-1 (1 s GOP); tick i reached the
            # programme at started + i/FPS.
            first.append(now - (started + number * FPS / FPS))
            last.append(now - (started + (number * FPS + FPS - 1) / FPS))
        time.sleep(0.01)


async def run_programme(seconds: float, folder: Path | None,
                        on_start: Callable[[Programme], None] = lambda p: None,
                        ) -> tuple[float, ProgrammeEncoder | None, Programme]:
    camera = FakeCamera()
    settings = BroadcastSettings(width=W, height=H, fps=FPS, segment_seconds=1.0)
    programme = Programme(camera, 1, settings)
    encoder = None
    if folder is not None:
        encoder = ProgrammeEncoder(settings, "bench")
        encoder.add_output(hls_output(HlsLayout(folder), settings, window=6))
        encoder.start()
        programme.sinks.append(encoder.offer)
    else:
        programme.sinks.append(lambda tick: None)
    camera.start()
    programme.start()
    on_start(programme)
    await asyncio.sleep(2)  # settle
    cpu0 = cpu_seconds(os.getpid())
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    used = cpu_seconds(os.getpid()) - cpu0
    elapsed = time.monotonic() - t0
    await programme.stop()
    await camera.stop()
    return used / elapsed, encoder, programme


async def bench_encode(seconds: float, folder: Path) -> EncodeResult:
    baseline, _, _ = await run_programme(seconds, None)
    first: list[float] = []
    last: list[float] = []
    stop = threading.Event()
    watchers: list[threading.Thread] = []

    def watch(programme: Programme) -> None:
        watcher = threading.Thread(target=_watch_playlist, daemon=True, args=(
            folder / "live.m3u8", programme.started_at, stop, first, last))
        watcher.start()
        watchers.append(watcher)

    load = loadavg()
    used, encoder, _ = await run_programme(seconds, folder, watch)
    assert encoder is not None
    encoder_cpu = encoder.stats.cpu_seconds  # its thread's own clock
    await asyncio.to_thread(encoder.close)
    stop.set()
    for watcher in watchers:
        watcher.join()
    total = seconds + 2
    return EncodeResult(seconds, used, baseline, encoder_cpu / total,
                        encoder.stats.pictures_dropped, first[2:], last[2:], load)


def bench_encode_offline(pictures: int = 300) -> float:
    """CPU seconds of the encoder thread per second of programme (30 pictures), encoding
    ``pictures`` queued at once (none dropped): a cost in CPU time, whatever the load."""
    camera = FakeCamera()
    settings = BroadcastSettings(width=W, height=H, fps=FPS, segment_seconds=1.0)
    with tempfile.TemporaryDirectory(prefix="causerie-hls-offline-") as folder:
        encoder = ProgrammeEncoder(settings, "bench-offline", queue_seconds=pictures / FPS + 1)
        encoder.add_output(hls_output(HlsLayout(Path(folder)), settings))
        for index in range(pictures):
            audio = np.zeros(settings.samples_per_tick, dtype=np.int16)
            encoder.offer(ProgrammeTick(index, camera.picture(index), audio,
                                        index * settings.samples_per_tick, time.monotonic()))
        encoder.start()
        encoder.close(timeout=300)
        assert encoder.stats.pictures_dropped == 0
        return encoder.stats.cpu_seconds / (pictures / FPS)


# -- 2. serving: the product against nginx -----------------------------------------------


@dataclass
class ServeResult:
    name: str
    viewers: int
    seconds: float
    server_cpu: float  # cores
    requests: int
    segments_ok: float  # share of the segments each player should have had
    playlist_p95: float
    segment_p95: float
    errors: int
    load: str

    @property
    def served(self) -> float:
        """Viewers the requests answered stand for: a player asks twice a second."""
        return self.requests / self.seconds / 2

    @property
    def per_core(self) -> float:
        return self.served / self.server_cpu if self.server_cpu else float("inf")


class SlidingFolder:
    """A live-looking HLS folder from pre-encoded segments: every second a new segment name
    (a hard link to one of the sources) and the playlist of the last six."""

    def __init__(self, sources: list[Path], folder: Path) -> None:
        self.sources = sources
        self.folder = folder
        self.number = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def step(self) -> None:
        name = self.folder / f"seg-{self.number:05d}.ts"
        if not name.exists():
            os.link(self.sources[self.number % len(self.sources)], name)
        first = max(0, self.number - 5)
        lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:1",
                 f"#EXT-X-MEDIA-SEQUENCE:{first}", "#EXT-X-INDEPENDENT-SEGMENTS"]
        for n in range(first, self.number + 1):
            lines += ["#EXTINF:1.000000,", f"seg-{n:05d}.ts"]
        tmp = self.folder / ".live.m3u8.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.folder / "live.m3u8")
        self.number += 1

    def start(self) -> None:
        for _ in range(6):
            self.step()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.step()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _player_process(base: str, viewers: int, seconds: float, out: Any) -> None:
    """Players in one process: each fetches the playlist then its newest segment once a
    second, from a random phase."""
    import aiohttp

    async def main() -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        playlist_times: list[float] = []
        segment_times: list[float] = []
        got = [0] * viewers
        errors = 0
        requests = 0
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession(connector=connector) as session:

            async def viewer(index: int) -> None:
                nonlocal errors, requests
                await asyncio.sleep(index / viewers)
                last = ""
                while time.monotonic() < deadline:
                    tick = time.monotonic()
                    try:
                        async with session.get(f"{base}/live.m3u8") as response:
                            text = await response.text()
                            requests += 1
                            ok = response.status == 200
                        playlist_times.append(time.monotonic() - tick)
                        names = re.findall(r"seg-\d+\.ts", text) if ok else []
                        if names and names[-1] != last:
                            t1 = time.monotonic()
                            async with session.get(f"{base}/{names[-1]}") as response:
                                await response.read()
                                requests += 1
                                if response.status == 200:
                                    got[index] += 1
                                    last = names[-1]
                                else:
                                    errors += 1
                            segment_times.append(time.monotonic() - t1)
                        elif not ok:
                            errors += 1
                    except (TimeoutError, aiohttp.ClientError):
                        errors += 1
                    await asyncio.sleep(max(0.0, tick + 1.0 - time.monotonic()))

            await asyncio.gather(*(viewer(i) for i in range(viewers)))
        return {"playlist": playlist_times, "segment": segment_times, "got": got,
                "errors": errors, "requests": requests}

    out.send(asyncio.run(main()))
    out.close()


def _pids(root: int) -> list[int]:
    found = [root]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{root}/task/{root}/children").read_text().split():
            found += _pids(int(child))
    return found


def serve_run(name: str, base: str, server_pid: int, viewers: int, seconds: float,
              processes: int) -> ServeResult:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    pipes = []
    procs = []
    for i in range(processes):
        share = viewers // processes + (1 if i < viewers % processes else 0)
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_player_process, args=(base, share, seconds + 2, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    time.sleep(2.0)  # players ramp up over their first second
    pids = _pids(server_pid)
    cpu0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    load = loadavg()
    results = [pipe.recv() for pipe in pipes]
    elapsed = time.monotonic() - t0
    cpu = sum(cpu_seconds(p) for p in pids if Path(f"/proc/{p}").exists()) - cpu0
    for proc in procs:
        proc.join()
    playlist = sorted(t for r in results for t in r["playlist"])
    segment = sorted(t for r in results for t in r["segment"])
    got = [g for r in results for g in r["got"]]
    expected = seconds + 2 - 1.5
    return ServeResult(
        name, viewers, elapsed, cpu / elapsed, sum(r["requests"] for r in results),
        min(1.0, statistics.median(got) / expected) if got else 0.0,
        playlist[int(len(playlist) * 0.95)] if playlist else float("nan"),
        segment[int(len(segment) * 0.95)] if segment else float("nan"),
        sum(r["errors"] for r in results), load)


def _env(data_dir: Path, port: int) -> dict[str, str]:
    return os.environ | {
        "CAUSERIE_DATA_DIR": str(data_dir), "CAUSERIE_HOST": "127.0.0.1",
        "CAUSERIE_PORT": str(port), "CAUSERIE_LOG_LEVEL": "WARNING",
        "CAUSERIE_WHISPER__LIVE_CAPTIONS": "false",
    }


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_product(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`causerie serve` with one live café whose programme folder is ready; returns the
    process, the base URL of the run's folder and that folder."""
    port = _free_port()
    env = _env(data_dir, port)
    causerie = str(VENV_BIN / "causerie")
    subprocess.run([causerie, "db", "upgrade"], env=env, check=True, capture_output=True,
                   cwd=REPO)
    created = subprocess.run(
        [causerie, "cafe", "create", "--title", "Bench HLS", "--theme", "screens",
         "--starts-at", f"{date.today() + timedelta(days=3)}T20:00", "--language", "fr"],
        env=env, check=True, capture_output=True, text=True, cwd=REPO)
    slug = re.search(r"^slug: (\S+)$", created.stdout, re.MULTILINE)
    assert slug is not None
    with sqlite3.connect(data_dir / "causerie.db") as db:
        db.execute("UPDATE cafes SET status = 'live', opened_at = ? WHERE slug = ?",
                   (datetime.now(UTC).isoformat(), slug.group(1)))
        (cafe_id,) = db.execute("SELECT id FROM cafes WHERE slug = ?",
                                (slug.group(1),)).fetchone()
    programme = data_dir / "programme" / str(cafe_id)
    (programme / "r1").mkdir(parents=True)
    (programme / "runs.json").write_text(json.dumps([{"run": "r1", "cafe_seconds": 0.0}]))
    process = subprocess.Popen([causerie, "serve"], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}/cafes/{slug.group(1)}/live/r1"
    _wait(f"http://127.0.0.1:{port}/healthz")
    return process, base, programme / "r1"


NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location ~ \\.m3u8$ {{ add_header Cache-Control "public, max-age=1"; }}
    location ~ \\.ts$ {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
  }}
}}
"""


def start_nginx(folder: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    root = tmp / "root"
    (root / "live").mkdir(parents=True)
    (root / "live" / "r1").symlink_to(folder)
    conf = tmp / "nginx.conf"
    # Its worker must read the bench's private temporary folder.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root, user=user))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}/live/r1"
    _wait(f"{base}/live.m3u8")
    return process, base


BARE = """
import sys
from aiohttp import web
folder, port = sys.argv[1], int(sys.argv[2])
cache = {}

async def serve(request):
    name = request.match_info["name"]
    if name.endswith(".m3u8"):
        with open(f"{folder}/{name}", "rb") as handle:
            return web.Response(body=handle.read(), content_type="application/vnd.apple.mpegurl",
                                headers={"Cache-Control": "public, max-age=1"})
    body = cache.get(name)
    if body is None:
        with open(f"{folder}/{name}", "rb") as handle:
            body = cache[name] = handle.read()
    return web.Response(body=body, content_type="video/mp2t")

app = web.Application()
app.router.add_get("/live/r1/{name}", serve)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
"""


def start_bare(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The same files from a bare aiohttp app (one route, no middleware): what aiohttp
    itself costs per request, beside the product's route."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", BARE, str(folder), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}/live/r1"
    _wait(f"{base}/live.m3u8")
    return process, base


def _wait(url: str, timeout: float = 30) -> None:
    import urllib.request
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- 3. glass-to-glass in Chromium ------------------------------------------------------

PAGE = """<!doctype html><meta charset="utf-8"><title>bench</title>
<video id="v" muted autoplay playsinline width="640" height="480"></video>
<script type="module">
import Hls from "/hls.min.mjs";
const video = document.getElementById("v");
window.delays = [];
const hls = new Hls({ enableWorker: false, liveSyncDurationCount: 2,
                      liveMaxLatencyDurationCount: 6 });
hls.loadSource("/live.m3u8");
hls.attachMedia(video);
hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
const BITS = 16, BLOCK = 40;
const readIndex = async () => {
  // The decoded picture's own pixels (WebCodecs): its luma plane, first rows.
  const frame = new VideoFrame(video);
  try {
    const rect = { x: 0, y: 0, width: 640, height: 40 };
    const buffer = new Uint8Array(frame.allocationSize({ rect }));
    const layout = await frame.copyTo(buffer, { rect });
    let index = 0;
    for (let bit = 0; bit < BITS; bit++) {
      const x = bit * BLOCK + BLOCK / 2;
      if (buffer[layout[0].offset + 20 * layout[0].stride + x] > 128) index |= 1 << bit;
    }
    return [index, frame.format];
  } finally {
    frame.close();
  }
};
const onFrame = async () => {
  const painted = Date.now();
  video.requestVideoFrameCallback(onFrame);
  try {
    const [index, format] = await readIndex();
    window.delays.push([index, painted, format]);
  } catch (error) {
    window.readError = String(error);
  }
};
video.requestVideoFrameCallback(onFrame);
</script>
"""


async def bench_glass(seconds: float, folder: Path) -> list[float]:
    from aiohttp import web
    from playwright.async_api import async_playwright

    camera = FakeCamera()
    settings = BroadcastSettings(width=W, height=H, fps=FPS, segment_seconds=1.0)
    programme = Programme(camera, 1, settings)
    encoder = ProgrammeEncoder(settings, "bench")
    encoder.add_output(hls_output(HlsLayout(folder), settings, window=6))
    encoder.start()
    programme.sinks.append(encoder.offer)

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def playlist(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=(folder / "live.m3u8").read_bytes(),
                            content_type="application/vnd.apple.mpegurl",
                            headers={"Cache-Control": "no-cache"})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/live.m3u8", playlist)
    hls_js = REPO / "node_modules" / "hls.js" / "dist" / "hls.min.mjs"

    async def module(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(hls_js, headers={"Content-Type": "text/javascript"})

    async def segment(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = folder / name
        if not re.fullmatch(r"seg-\d+\.ts", name) or not path.exists():
            return web.Response(status=404)
        return web.Response(body=path.read_bytes(), content_type="video/mp2t")

    app.router.add_get("/hls.min.mjs", module)
    app.router.add_get("/{name}", segment)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    camera.start()
    programme.start()
    delays: list[float] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=shutil.which("chromium"), headless=True,
                args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
            tab = await browser.new_page()
            await tab.goto(f"http://127.0.0.1:{port}/")
            await asyncio.sleep(seconds)
            raw = await tab.evaluate("window.delays")
            await browser.close()
        start = camera.started_wall * 1000
        for index, painted, *_ in raw[FPS * 3:]:  # after the first seconds of start-up
            if index > 0:  # 0: a black picture (no barcode), before the camera's first
                delays.append((painted - (start + index * 1000 / FPS)) / 1000)
    finally:
        await programme.stop()
        await camera.stop()
        await asyncio.to_thread(encoder.close)
        await runner.cleanup()
    return delays


# -- main -------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--viewers", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--players", type=int, default=1, help="player processes")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 20.0)
    viewers = args.viewers or (200 if args.quick else 400)
    print(f"machine: {os.cpu_count()} CPUs, {sys.platform}, python {sys.version.split()[0]}, "
          f"PyAV {av.__version__}; load average {loadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="causerie-hls-bench-") as tmp_name:
        tmp = Path(tmp_name)
        encoded = tmp / "encoded"
        encoded.mkdir()
        result = asyncio.run(bench_encode(seconds, encoded))
        cost = result.process_cpu - result.baseline_cpu
        print(f"\n1. encode, 640x480 30 fps, {seconds:.0f} s (load before: {result.load}; "
              f"after: {loadavg()})")
        print(f"   process CPU with the encode   {result.process_cpu:.3f} core")
        print(f"   baseline (camera + programme) {result.baseline_cpu:.3f} core")
        print(f"   HLS encode cost               {cost:.3f} core  (goal <= 0.5)")
        print(f"   the encoder thread alone {result.encoder_thread:.3f} core; pictures dropped "
              f"(encoder behind) {result.pictures_dropped}")
        print(f"   listing delay, first picture of a segment: median "
              f"{pct(result.listing_first, 0.5):.2f} s, p95 {pct(result.listing_first, 0.95):.2f}"
              f" s (goal <= 2 s); last picture: median {pct(result.listing_last, 0.5):.2f} s"
              f" ({len(result.listing_first)} segments)", flush=True)

        offline = bench_encode_offline()
        print(f"   offline, 300 pictures queued at once (none dropped): the encoder thread "
              f"{offline:.3f} core per second of programme [load {loadavg()}]", flush=True)

        sources = sorted(encoded.glob("seg-*.ts"))[2:]
        sizes = [p.stat().st_size for p in sources]
        print(f"\n2. serving {viewers} players (playlist + newest segment each second; "
              f"segments {statistics.mean(sizes) / 1000:.0f} kB), {seconds:.0f} s each")
        runs: list[ServeResult] = []
        data_dir = tmp / "data"
        product, base, folder = start_product(data_dir)
        sliding = SlidingFolder(sources, folder)
        sliding.start()
        try:
            runs.append(serve_run("aiohttp (causerie serve)", base, product.pid, viewers,
                                  seconds, args.players))
            bare, bare_base = start_bare(folder)
            try:
                runs.append(serve_run("aiohttp bare (1 route)", bare_base, bare.pid, viewers,
                                      seconds, args.players))
            finally:
                _stop(bare)
            nginx, nginx_base = start_nginx(folder, tmp / "nginx")
            try:
                runs.append(serve_run("nginx 1 worker", nginx_base, nginx.pid, viewers,
                                      seconds, args.players))
            finally:
                _stop(nginx)
        finally:
            sliding.stop()
            _stop(product)
        for run in runs:
            valid = run.segments_ok >= 0.95 and run.playlist_p95 < 0.5
            print(f"   {run.name:26s} server {run.server_cpu:.3f} core, "
                  f"{run.requests / run.seconds:.0f} req/s ({run.served:.0f} viewers), "
                  f"segments {run.segments_ok:.0%}, "
                  f"playlist p95 {run.playlist_p95 * 1000:.0f} ms, segment p95 "
                  f"{run.segment_p95 * 1000:.0f} ms, errors {run.errors} -> "
                  f"{run.per_core:.0f} viewers/core{'' if valid else ' (players starved)'}"
                  f"  [load {run.load}]", flush=True)
        if not args.no_browser and shutil.which("chromium"):
            live = tmp / "glass"
            live.mkdir()
            delays = asyncio.run(bench_glass(seconds + 8, live))
            print(f"\n3. glass-to-glass in Chromium (hls.js, liveSyncDurationCount 2): "
                  f"median {pct(delays, 0.5):.2f} s, p95 {pct(delays, 0.95):.2f} s over "
                  f"{len(delays)} frames (goal <= 6 s) [load {loadavg()}]", flush=True)


if __name__ == "__main__":
    main()
