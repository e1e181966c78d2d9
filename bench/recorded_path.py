"""The recorded path, end to end: what Whisper gets of an expert who speaks through WebRTC.

`bench/transcription.py` feeds files straight to Whisper; a café's final transcript is made
from what the server *recorded*: the expert's microphone -> Opus over WebRTC -> aiortc's
decoder -> the media plane's audio tap -> `SpeakerFeed` (16 kHz, placed on the café's
timeline) -> the recorder's Ogg part. Here a real aiortc peer publishes French speech
(espeak-ng, 48 kHz, the sentences of `bench/transcription.py` with pauses) through
`media.publish` to the real app served in this process; the part the server wrote is then
transcribed by plain faster-whisper (`vad_filter=True`, beam 5, the packaged base model),
beside the source file itself in the same run.

Per run it prints the part's length against the speech's, the share of its 20 ms blocks
that are silent inside the speech (the source's own share beside it), and the WER of the
part's transcript against the reference text and against the source's transcript.

Two placements of the audio, in the same run: `media` (the product: `FeedClock`, frames
laid end to end by their media time) and `arrival` (before 2026-12-02: each frame stamped
with the instant it reached the event loop). Two loads: `idle`, and `busy` (the event loop
held `--block` ms every `--every` ms, as a loaded café server holds it; the publisher shares
the loop, as a browser on the same machine shares the CPU).

    .venv/bin/python bench/recorded_path.py [--clocks media,arrival] [--loads idle,busy]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "functional"))

import speech_set  # noqa: E402

from bench.transcription import FRENCH  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def speak(folder: Path) -> tuple[Path, str]:
    """The sentences with 1 s pauses, at 48 kHz; the reference text."""
    parts = []
    for i, text in enumerate(FRENCH):
        raw = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(raw), text], check=True)
        padded = folder / f"p{i}.wav"
        subprocess.run(["sox", str(raw), "-r", "48000", str(padded), "pad", "0", "1.0"],
                       check=True)
        parts.append(str(padded))
    out = folder / "speech.wav"
    subprocess.run(["sox", *parts, str(out), "pad", "1.0", "0"], check=True)
    return out, " ".join(FRENCH)


def decode_16k(path: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    import av

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        return np.concatenate([out.to_ndarray().reshape(-1)
                               for frame in container.decode(audio=0)
                               for out in resampler.resample(frame)])


def silent_share(pcm: np.ndarray[Any, np.dtype[np.int16]]) -> float:
    """Share of 20 ms blocks under -40 dBFS (inside: the first and last 0.5 s left out)."""
    blocks = pcm[: len(pcm) // 320 * 320].reshape(-1, 320).astype(np.float64)
    rms = np.sqrt((blocks ** 2).mean(axis=1)) / 32768
    inner = rms[25:-25]
    return float((inner < 0.01).mean()) if len(inner) else float("nan")


def transcribe(model: Any, pcm: np.ndarray[Any, np.dtype[np.int16]]) -> str:
    segments, _ = model.transcribe(pcm.astype(np.float32) / 32768, language="fr",
                                   vad_filter=True, beam_size=5)
    return " ".join(s.text.strip() for s in segments)


class ArrivalClock:
    """The placement before 2026-12-02: a chunk starts at its arrival instant."""

    def place(self, arrival: float, duration: float, pts: float | None = None) -> float:
        return arrival


async def busy(until: float, block: float, every: float) -> None:
    while time.monotonic() < until:
        await asyncio.sleep(max(0.0, every - block))
        time.sleep(block)  # noqa: ASYNC251 (the point: the loop is held)


async def record(wav: Path, seconds: float, folder: Path, *, clock: str,
                 block: float, every: float) -> Path:
    """Serve the app, publish `wav` as the café's expert, return the part it recorded."""
    import socketio
    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    import transcripts.feed
    from server.app import create_app
    from server.config import load_config
    from server.keys import CAFES
    from server.migrate import upgrade
    from sessions.cafe import CafeDraft
    from sessions.roles import Role
    from signaling.media import build_configuration, offered_host_addresses

    original = transcripts.feed.FeedClock
    if clock == "arrival":
        transcripts.feed.FeedClock = ArrivalClock  # type: ignore[misc,assignment]
    database_url = f"sqlite+aiosqlite:///{folder}/causerie.db"
    await asyncio.to_thread(upgrade, database_url)  # Alembic runs its own event loop
    config = load_config(data_dir=folder / "var", database_url=database_url,
                         secret_key=secrets.token_hex(24), ice={"host_addresses": ["127.0.0.1"]},
                         whisper={"live_captions": False})
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = socketio.AsyncClient(reconnection=False)
    pc = RTCPeerConnection(build_configuration())
    try:
        from datetime import timedelta

        cafes = app[CAFES]
        cafe = await cafes.create_cafe(CafeDraft("Banc", "", "screens", "fr",
                                                 cafes.clock.now() + timedelta(hours=1), 60),
                                       None)
        token = (await cafes.invite(cafe.id, Role.EXPERT)).token
        await client.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
        ack = await client.call("join", {"cafe": cafe.slug, "pseudonym": "Dr Martin",
                                         "browser_key": secrets.token_hex(16), "invite": token})
        assert ack["ok"], ack
        assert (await client.call("cafe.open", {}))["ok"]
        player = MediaPlayer(str(wav))
        assert player.audio is not None
        pc.addTransceiver(player.audio, direction="sendonly")
        with offered_host_addresses(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createOffer())
        answer = await client.call("media.publish", {"sdp": pc.localDescription.sdp,
                                                     "type": "offer"})
        assert answer["ok"], answer
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        end = time.monotonic() + seconds + 1.5
        if block > 0:
            await busy(end, block, every)
        else:
            await asyncio.sleep(end - time.monotonic())
        assert (await client.call("media.unpublish", {}))["ok"]
        await asyncio.sleep(1.5)
        parts = sorted((folder / "var" / "recordings" / f"cafe-{cafe.id}").glob("*.ogg"))
        assert parts, "nothing recorded"
        return parts[0] if len(parts) == 1 else concat(parts, folder)
    finally:
        await pc.close()
        await client.disconnect()
        await runner.cleanup()
        transcripts.feed.FeedClock = original  # type: ignore[misc]


def concat(parts: list[Path], folder: Path) -> Path:
    out = folder / "parts.wav"
    pcm = np.concatenate([decode_16k(p) for p in parts])
    import wave

    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clocks", default="media,arrival")
    ap.add_argument("--loads", default="idle,busy")
    ap.add_argument("--block", type=float, default=150, help="ms the busy loop is held")
    ap.add_argument("--every", type=float, default=250, help="ms between holds")
    args = ap.parse_args()
    from faster_whisper import WhisperModel

    from transcripts.model import resolve_model

    model = WhisperModel(str(resolve_model("", ROOT / "var" / "models" / "whisper-base")),
                         device="cpu", compute_type="int8", cpu_threads=2)
    print(f"{os.cpu_count()} cores; load average before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        wav, reference = speak(Path(tmp))
        source = decode_16k(wav)
        seconds = len(source) / 16000
        source_text = transcribe(model, source)
        print(f"speech: {seconds:.1f} s, {len(FRENCH)} sentences; silent 20 ms blocks "
              f"{silent_share(source):.0%}; plain faster-whisper on the file: WER "
              f"{speech_set.wer(reference, source_text):.2f}")
        print(f"{'clock':8} {'load':22} {'part':>7} {'silent':>7} {'WER':>5} "
              f"{'vs file':>7}  load average")
        for load_name in args.loads.split(","):
            block = args.block / 1000 if load_name == "busy" else 0.0
            label = (f"busy {args.block:.0f}/{args.every:.0f} ms" if block else "idle")
            for clock in args.clocks.split(","):
                folder = Path(tmp) / f"{clock}-{load_name}"
                folder.mkdir()
                part = asyncio.run(record(wav, seconds, folder, clock=clock, block=block,
                                          every=args.every / 1000))
                pcm = decode_16k(part)
                text = transcribe(model, pcm)
                print(f"{clock:8} {label:22} {len(pcm) / 16000:6.1f}s "
                      f"{silent_share(pcm):7.0%} {speech_set.wer(reference, text):5.2f} "
                      f"{speech_set.wer(source_text, text):7.2f}  {load()}", flush=True)
                print(f"         {text[:150]}", flush=True)


if __name__ == "__main__":
    main()
