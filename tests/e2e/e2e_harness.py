"""What the browser tests drive: a private network namespace, a real `causerie serve`
process, cafés made with the CLI, and a spoken WAV for the fake microphone.

The namespace keeps Chromium and aiortc on loopback only (see the notes on browser WebRTC
testing: with other interfaces around, both offer those addresses and ICE is not
deterministic). A holder process owns the namespace; the server and Chromium enter it with
`nsenter`, so pytest itself (and other test suites in the same run) stay outside.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CAUSERIE = str(VENV_BIN / "causerie")

# From shared/notes/browser-webrtc-testing.md; never `--disable-features` (Playwright's own
# list would be silently replaced).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
)


class HarnessError(RuntimeError):
    pass


class Namespace:
    """A network namespace with only `lo`, held by a sleeping process; or none at all when
    not root (then everything runs in the host's namespace)."""

    def __init__(self) -> None:
        self._holder: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return (os.geteuid() == 0 and shutil.which("unshare") is not None
                and shutil.which("nsenter") is not None and shutil.which("ip") is not None
                and os.environ.get("CAUSERIE_E2E_NETNS", "1") != "0")

    def start(self) -> None:
        if not self.available():
            return
        self._holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && echo ready && exec sleep 86400"],
            stdout=subprocess.PIPE)
        assert self._holder.stdout is not None
        with self._holder.stdout:
            ready = self._holder.stdout.readline().strip() == b"ready"
        if not ready:
            raise HarnessError("could not set up the network namespace")

    @property
    def active(self) -> bool:
        return self._holder is not None

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv`, run inside the namespace when there is one."""
        if self._holder is None:
            return argv
        return ["nsenter", f"--net=/proc/{self._holder.pid}/ns/net", "--", *argv]

    def chromium_executable(self, directory: Path) -> str:
        """Chromium, or a wrapper script that starts it inside the namespace (Playwright
        talks to it over inherited pipes, which `nsenter` keeps)."""
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise HarnessError("chromium is not installed (apt-get install chromium)")
        if self._holder is None:
            return chromium
        script = directory / "chromium-in-namespace"
        script.write_text('#!/bin/sh\nexec ' + " ".join(self.wrap([chromium])) + ' "$@"\n')
        script.chmod(0o755)
        return str(script)

    def stop(self) -> None:
        if self._holder is not None:
            self._holder.kill()
            self._holder.wait()
            self._holder = None


@dataclass(frozen=True)
class Cafe:
    slug: str
    page: str
    expert: str
    moderator: str


class Server:
    """`causerie serve` on 127.0.0.1 with its own data directory."""

    def __init__(self, namespace: Namespace, data_dir: Path) -> None:
        self.namespace = namespace
        self.data_dir = data_dir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return os.environ | {
            "CAUSERIE_DATA_DIR": str(self.data_dir),
            "CAUSERIE_HOST": "127.0.0.1",
            "CAUSERIE_PORT": str(self.port),
            "CAUSERIE_ICE__HOST_ADDRESSES": '["127.0.0.1"]',
            "CAUSERIE_LOG_LEVEL": "INFO",
            # Captions run Whisper; not what these tests are about, and slow on CI.
            "CAUSERIE_WHISPER__LIVE_CAPTIONS": "false",
        }

    def upgrade(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([CAUSERIE, "db", "upgrade"], env=self.env, check=True,
                       capture_output=True, cwd=REPO)

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                self.namespace.wrap([CAUSERIE, "serve"]), env=self.env, cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def stop(self) -> None:
        if self._process is None:
            return
        # SIGINT: aiohttp's run_app shuts down cleanly (closes peers, the database).
        os.killpg(self._process.pid, signal.SIGINT)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_cafe(self, title: str, glossary: str = "") -> Cafe:
        result = subprocess.run(
            [CAUSERIE, "cafe", "create", "--title", title, "--theme", "screens",
             "--starts-at", f"{date.today() + timedelta(days=30)}T20:00", "--language", "fr",
             "--glossary", glossary],
            env=self.env, cwd=REPO, check=True, capture_output=True, text=True)
        fields = dict(re.findall(r"^(slug|page|expert|moderator): (\S+)$", result.stdout,
                                 re.MULTILINE))
        return Cafe(slug=fields["slug"], page=fields["page"], expert=fields["expert"],
                    moderator=fields["moderator"])

    def create_organiser(self, email: str, name: str, password: str) -> None:
        subprocess.run([CAUSERIE, "admin", "create", "--email", email, "--name", name,
                        "--password-stdin"], input=password + "\n", env=self.env, cwd=REPO,
                       check=True, capture_output=True, text=True)

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Read the server's SQLite database directly (what the page cannot show)."""
        with sqlite3.connect(self.data_dir / "causerie.db") as db:
            return list(db.execute(sql, args).fetchall())

    def opened_at(self, slug: str) -> datetime:
        """The café's opening as the server recorded it (its clock places audio by it)."""
        ((value,),) = self.query("SELECT opened_at FROM cafes WHERE slug = ?", slug)
        opened = datetime.fromisoformat(str(value))
        return opened if opened.tzinfo else opened.replace(tzinfo=UTC)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_ready(self, timeout: float = 30.0) -> None:
        # The probe runs where the server listens (inside the namespace when there is one).
        probe = (
            "import sys, time, urllib.request\n"
            f"deadline = time.monotonic() + {timeout}\n"
            "while time.monotonic() < deadline:\n"
            "    try:\n"
            f"        urllib.request.urlopen('{self.base_url}/healthz', timeout=1).read()\n"
            "        sys.exit(0)\n"
            "    except OSError:\n"
            "        time.sleep(0.1)\n"
            "sys.exit(1)\n"
        )
        done = subprocess.run(self.namespace.wrap([sys.executable, "-c", probe]), check=False)
        if done.returncode != 0 or (self._process is not None
                                    and self._process.poll() is not None):
            raise HarnessError(f"the server did not start:\n{self.log_tail()}")


def speech_wav(directory: Path, text: str, voice: str = "fr") -> Path:
    """A WAV of `text` spoken by espeak-ng, after 1.5 s of silence (the fake microphone
    starts at getUserMedia, before media reaches the server)."""
    raw = directory / "speech-raw.wav"
    padded = directory / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "48000", str(padded), "pad", "1.5", "0"],
                   check=True, capture_output=True)
    return padded


def _free_port() -> int:
    # Bound in the host namespace; the namespace has its own ports, so this is only a
    # likely-free choice there, which is all a fresh namespace needs.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


