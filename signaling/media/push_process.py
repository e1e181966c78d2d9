"""A network destination's push in a child process: the programme goes to it as FLV on the
child's stdin, and the child remuxes it to the destination (``rtmp://``) with PyAV.

Why a process: PyAV opens an output (``avio_open``: TCP connect, RTMP handshake, connect
and publish) without releasing the GIL, so a destination that is slow or never answers
would freeze the whole server (every café's signaling and media) for as long as it takes:
measured, a destination that accepts TCP and then stays silent held the GIL until the
process was killed. In a child, only the child waits; the server keeps its GIL, and kills a
child that does not go live within the open timeout. (It also lets the rtmps tunnel of
`signaling.media.tls_tunnel` run on the server's event loop while the child connects to it.)

Protocol: stdin is one line, the URL (never on the command line: ``ps`` shows that), then
an FLV stream; stdout is lines: ``live`` once the destination took the first packet,
``error <text>`` (the URL replaced) before a non-zero exit. stderr is not kept (FFmpeg may
name the URL there).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from typing import IO

__all__ = ["PushChild", "main"]


class PushChild:
    """The server's side of one child: its stdin to write FLV to, whether it went live,
    its last error, and a kill if it is not live within ``open_timeout`` seconds."""

    def __init__(self, url: str, open_timeout: float) -> None:
        self.live = threading.Event()
        self.ended = threading.Event()
        self.error = ""
        self._proc = subprocess.Popen(
            # by path, with -P (its folder not on sys.path): `-m` would import the whole
            # media package first (0.9 s to start, against 0.2 s)
            [sys.executable, "-P", __file__], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)  # no delay
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self.stdin: IO[bytes] = self._proc.stdin
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,),
                                        name="causerie-push-status", daemon=True)
        self._reader.start()
        self._timer = threading.Timer(open_timeout, self._give_up, args=(open_timeout,))
        self._timer.daemon = True
        self._timer.start()
        self.stdin.write(url.encode() + b"\n")

    def _read(self, stdout: IO[bytes]) -> None:
        with stdout:
            for raw in stdout:
                line = raw.decode(errors="replace").strip()
                if line == "live":
                    self.live.set()
                elif line.startswith("error "):
                    self.error = line[len("error "):]
        self.ended.set()

    def _give_up(self, seconds: float) -> None:
        if not self.live.is_set() and self._proc.poll() is None:
            self.error = self.error or f"TimeoutError: no answer within {seconds:g} s"
            self._proc.kill()

    def close(self, timeout: float = 5.0) -> None:
        """After the last write: let the child finish (the destination gets the end of
        the stream), or kill it."""
        self._timer.cancel()
        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(1.0)

    def kill(self) -> None:
        self._timer.cancel()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        with contextlib.suppress(OSError):
            self.stdin.close()
        self._reader.join(1.0)


def main() -> int:
    import av

    # Unbuffered: a buffered read waits for a whole buffer, a live stream cannot.
    stdin = os.fdopen(sys.stdin.fileno(), "rb", buffering=0)
    line = b""
    while not line.endswith(b"\n") and (byte := stdin.read(1)):
        line += byte
    url = line.decode().strip()
    try:
        # Probing ends once both streams' parameters are known: the picture's size needs
        # the first keyframe whole (tens of kB at 640x480), the frame rate is not waited
        # for (FFmpeg's estimate of it alone took 1 s more).
        probe = {"probesize": "2000000", "analyzeduration": "1000000", "fpsprobesize": "0"}
        with av.open(stdin, "r", format="flv", options=probe) as source:
            target = av.open(url, "w", format="flv")
            try:
                streams = {s.index: target.add_stream_from_template(s)
                           for s in source.streams if s.type in ("video", "audio")}
                live = False
                for packet in source.demux():
                    if packet.dts is None or packet.stream.index not in streams:
                        continue
                    packet.stream = streams[packet.stream.index]
                    target.mux(packet)
                    if not live:
                        live = True
                        print("live", flush=True)
            finally:
                target.close()
    except Exception as exc:  # any error is the push's: say it, without the URL
        message = f"{type(exc).__name__}: {exc}"
        if url:
            message = message.replace(url, "<url>")
        print("error " + " ".join(message.split())[:300], flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
