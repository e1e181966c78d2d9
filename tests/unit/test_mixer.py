"""The programme's audio mixer: speakers summed on one timeline, arrival jitter absorbed,
late and far-ahead samples dropped and counted."""

from __future__ import annotations

import numpy as np
import pytest

from signaling.media.mixer import AudioMixer


def _ones(n: int, value: int = 100) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_two_speakers_are_summed_and_clipped() -> None:
    mixer = AudioMixer(48_000)
    mixer.push(1, _ones(960, 3000), 0)
    mixer.push(2, _ones(960, 30000), 480)
    out = mixer.pull(1920)
    assert out[:480].tolist() == [3000] * 480
    assert set(out[480:960].tolist()) == {32767}  # clipped, not wrapped
    assert set(out[960:1440].tolist()) == {30000}
    assert set(out[1440:].tolist()) == {0}
    assert mixer.cursor == 1920


def test_jitter_is_laid_end_to_end_and_a_real_gap_is_kept() -> None:
    mixer = AudioMixer(48_000, resync=0.2)
    mixer.push(1, _ones(960), 0)
    mixer.push(1, _ones(960), 960 + 2000)  # 40 ms late: still right after the first
    mixer.push(1, _ones(960), 48_000)  # a second later: its own place
    out = mixer.pull(48_000 + 960)
    assert set(out[:1920].tolist()) == {100}
    assert set(out[1920:48_000].tolist()) == {0}
    assert set(out[48_000:].tolist()) == {100}


def test_late_and_far_ahead_samples_are_dropped_and_counted() -> None:
    mixer = AudioMixer(48_000, max_lead=1.0)
    mixer.pull(4800)
    mixer.push(1, _ones(960), 4000)  # 800 samples behind the cursor
    mixer.push(2, _ones(960), 4800 + 48_000 * 2)  # two seconds ahead
    assert mixer.stats.late_samples == 800
    assert mixer.stats.overflow_samples == 960
    out = mixer.pull(960)
    assert set(out[:160].tolist()) == {100} and set(out[160:].tolist()) == {0}


def test_a_speaker_who_left_is_forgotten_once_played() -> None:
    mixer = AudioMixer(48_000)
    mixer.push(1, _ones(960), 0)
    mixer.remove(1)
    assert set(mixer.pull(960).tolist()) == {100}
    mixer.push(1, _ones(960), 5000)  # back later: placed by its own instant
    out = mixer.pull(6000)
    assert set(out[5000 - 960:5000 - 960 + 960].tolist()) == {100}


@pytest.mark.parametrize("burst", [5, 15, 25, 50])
def test_frames_handed_over_in_bursts_play_without_holes_or_doubling(burst: int) -> None:
    """A busy event loop hands a speaker's frames over `burst` at a time, all at one arrival
    instant, while the programme pulls 1/30 s ticks 0.3 s behind: a steady tone comes out
    steady. (With bursts of 300 ms and more, going back to each arrival instant left a
    quarter to a half of the programme silent, and some of it mixed twice.)"""
    rate, frame = 48_000, 960
    mixer = AudioMixer(rate, resync=0.2)
    arrivals = [(i // burst + 1) * burst * 0.02 for i in range(500)]
    pulled: list[np.ndarray] = []
    sent = 0
    for tick in range(300):
        now = tick / 30
        while sent < len(arrivals) and arrivals[sent] <= now:
            mixer.push(1, _ones(frame, 8000), round((arrivals[sent] - 0.02) * rate))
            sent += 1
        start = round((now - 0.3) * rate)
        if start >= 0:
            mixer.cursor = max(mixer.cursor, start)
            pulled.append(mixer.pull(1600))
    steady = np.concatenate(pulled)[2 * rate:8 * rate]  # once the first burst is in
    assert set(steady.tolist()) == {8000}
    assert mixer.stats.late_samples == 0 and mixer.stats.overflow_samples == 0
