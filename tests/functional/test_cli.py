"""The `causerie` command as an operator types it, in a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

CAUSERIE = [sys.executable, "-m", "server.cli"]
# The CLI reads the real clock, and a café starts within two years of it.
SOON = date.today() + timedelta(days=30)


def run(args: list[str], data_dir: Path, stdin: str = "",
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "CAUSERIE_DATA_DIR": str(data_dir), "CAUSERIE_LOG_LEVEL": "WARNING",
               **(env or {})}
    return subprocess.run([*CAUSERIE, *args], input=stdin, capture_output=True, text=True,
                          env=environ, timeout=120, check=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "var"
    result = run(["db", "upgrade"], data)
    assert result.returncode == 0, result.stderr
    return data


def test_cafe_create_prints_slug_and_links(data_dir: Path) -> None:
    result = run(["cafe", "create", "--title", "Écrans et sommeil", "--starts-at",
                  f"{SOON}T20:00", "--theme", "screens", "--description", "Parlons-en"],
                 data_dir)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert lines["slug"] == f"ecrans-et-sommeil-{SOON}"
    assert lines["expert"].startswith(
        f"http://127.0.0.1:8080/cafes/ecrans-et-sommeil-{SOON}?invite=")
    assert lines["moderator"] != lines["expert"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--starts-at", "2020-01-01T10:00", "--theme", "screens"], "future"),
        (["--starts-at", "tomorrow", "--theme", "screens"], "--starts-at"),
        (["--starts-at", f"{SOON}T10:00", "--theme", "<b>"], "theme"),
        (["--starts-at", f"{SOON}T10:00", "--theme", "screens", "--duration", "1000"],
         "duration"),
        (["--starts-at", f"{SOON.year + 3}-01-01T10:00", "--theme", "screens"], "two years"),
        (["--starts-at", "9999-12-31T23:30+00:00", "--theme", "screens"], "two years"),
    ],
)
def test_cafe_create_refuses_bad_input(data_dir: Path, args: list[str], message: str) -> None:
    result = run(["cafe", "create", "--title", "Un café", *args], data_dir)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_stops_with_its_name(data_dir: Path) -> None:
    result = run(["db", "upgrade"], data_dir, env={"CAUSERIE_PORT": "eighty"})
    assert result.returncode == 2
    assert "port" in result.stderr and "Traceback" not in result.stderr


def test_admin_create_and_duplicate(data_dir: Path) -> None:
    ok = run(["admin", "create", "--email", "Orga@Example.org", "--name", "Orga",
              "--password-stdin"], data_dir, stdin="a long enough password\n")
    assert ok.returncode == 0, ok.stderr
    again = run(["admin", "create", "--email", "orga@example.org", "--name", "Orga",
                 "--password-stdin"], data_dir, stdin="a long enough password\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run(["admin", "create", "--email", "x@example.org", "--name", "X",
                 "--password-stdin"], data_dir, stdin="short\n")
    assert short.returncode == 1 and "password" in short.stderr


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run(["serve", "--port", "18999"], tmp_path / "empty")
    assert result.returncode == 2 and "db upgrade" in result.stderr


@pytest.mark.whisper
def test_transcribe_publish_search_export(data_dir: Path, tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required (make test installs it)")
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(wav),
                    "Les jeux vidéo en ligne permettent de discuter. "
                    "Parlez-en avec votre famille."], check=True)
    created = run(["cafe", "create", "--title", "Jeux vidéo", "--starts-at", f"{SOON}T20:00",
                   "--theme", "video-games"], data_dir)
    slug = created.stdout.split()[1]
    hidden = run(["transcribe", str(wav), "--cafe", slug, "--language", "fr"], data_dir)
    assert hidden.returncode == 0, hidden.stderr
    assert json.loads(run(["search", "discuter", "--json"], data_dir).stdout)["total"] == 0
    assert run(["export", slug, "--format", "txt"], data_dir).returncode == 1  # unpublished

    # A café that has not ended cannot be published: refused before any transcription.
    early = run(["transcribe", str(wav), "--cafe", slug, "--publish"], data_dir)
    assert early.returncode == 1 and "ended" in early.stderr, early.stderr
    assert "segments added" not in early.stdout
    assert run(["export", slug, "--format", "txt"], data_dir).returncode == 1
    _end_cafe(data_dir, slug)

    published = run(["transcribe", str(wav), "--cafe", slug, "--publish", "--speaker",
                     "Dr Martin"], data_dir)
    assert published.returncode == 0, published.stderr
    found = json.loads(run(["search", "discuter", "--json"], data_dir).stdout)
    assert found["total"] >= 1
    hit = found["hits"][0]
    assert hit["cafe"]["slug"] == slug and 0 <= hit["start"] < hit["end"] < 10
    vtt = run(["export", slug, "--format", "vtt"], data_dir)
    assert vtt.stdout.startswith("WEBVTT") and "discuter" in vtt.stdout

    bad = tmp_path / "not-audio.wav"
    bad.write_text("this is not audio")
    refused = run(["transcribe", str(bad), "--cafe", slug], data_dir)
    assert refused.returncode == 1 and "audio" in refused.stderr
    unknown = run(["transcribe", str(wav), "--cafe", "no-such-cafe"], data_dir)
    assert unknown.returncode == 1 and "café" in unknown.stderr


def _end_cafe(data_dir: Path, slug: str) -> None:
    """The café ended (as its expert's "end" does; no command line for that)."""
    import sqlite3

    with sqlite3.connect(data_dir / "causerie.db") as conn:
        conn.execute("UPDATE cafes SET status = 'ended' WHERE slug = ?", (slug,))


def test_serve_and_graceful_shutdown(data_dir: Path) -> None:
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environ = {**os.environ, "CAUSERIE_DATA_DIR": str(data_dir), "CAUSERIE_LOG_LEVEL": "INFO",
               "CAUSERIE_LOG_FORMAT": "json"}
    server = subprocess.Popen([*CAUSERIE, "serve", "--port", str(port)], env=environ,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ok"
                    break
            except OSError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in logged]
    assert "signaling closed" in messages and "database closed" in messages
    assert {entry["logger"] for entry in logged} >= {"causerie.http", "causerie.signaling"}
