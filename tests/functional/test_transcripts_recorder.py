"""The recording survives a kill -9 of its process, decodable up to its last seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from transcripts.engine import SAMPLE_RATE, decode_audio, probe_audio

CHILD = r"""
import sys, time
import numpy as np
from pathlib import Path
from transcripts.recorder import SpeakerRecorder, RecorderPolicy
rec = SpeakerRecorder(Path(sys.argv[1]), "expert", RecorderPolicy(flush_seconds=1.0))
t = 0.0
n = 0
while True:
    k = np.arange(320) + n
    rec.push((np.sin(k * 0.07) * 9000).astype(np.int16), t)
    n += 320
    t += 0.02
    if n % 16000 == 0:
        print(round(t, 2), flush=True)
    time.sleep(0.002)  # faster than real time
"""


def test_recording_is_decodable_after_kill_9(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    written = 0.0
    deadline = time.monotonic() + 60
    while written < 8 and time.monotonic() < deadline:
        written = float(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    (path,) = tmp_path.glob("*.ogg")
    assert probe_audio(path) > 0
    audio = decode_audio(path)
    seconds = len(audio) / SAMPLE_RATE
    assert written - 3 <= seconds <= written + 1.5, (written, seconds)
    assert float(abs(audio[: SAMPLE_RATE]).max()) > 0.1  # real signal, not silence
