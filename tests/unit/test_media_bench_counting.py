"""The media fan-out benchmark's subscriber-side counting (it decides what passes)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/ is not a package

from bench.media_fanout import AUDIO_PT, VIDEO_PT, LightSubscriber, Stream


def _rtp(pt: int, seq: int, ts: int, *, marker: bool = False, payload: bytes = b"") -> bytes:
    # Version 2, one-byte header extension of one word (as the server's mid/abs-send-time).
    header = bytes([0x90, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big")
    header += ts.to_bytes(4, "big") + (1234).to_bytes(4, "big")
    extension = b"\xbe\xde\x00\x01" + b"\x10\x30\x00\x00"
    return header + extension + payload


START = b"\x10\x00"  # VP8 descriptor: S=1, partition 0
MIDDLE = b"\x00\x00"


def test_complete_frames_counted_and_gaps_lose_the_frame() -> None:
    sub = LightSubscriber()
    seq = 65530  # across the wrap
    for frame in range(4):
        ts = 3000 * frame
        for i in range(3):
            if frame == 2 and i == 1:
                seq += 1  # lost: frame 2 is incomplete
                continue
            payload = (START if i == 0 else MIDDLE) + b"x"
            sub.rtp(_rtp(VIDEO_PT, seq & 0xFFFF, ts, marker=i == 2, payload=payload))
            seq += 1
    for n in range(5):
        sub.rtp(_rtp(AUDIO_PT, 100 + n, 960 * n, marker=True, payload=b"a"))
    frames, audio, lost, received = sub.report(0, 1e12)
    assert (frames, audio, lost, received) == (3, 5, 1, 11 + 5)


def test_duplicates_and_late_packets_are_not_counted_twice() -> None:
    stream = Stream(ssrc=1, seq=10)
    for seq in (10, 11, 11, 13, 12, 14):
        stream.packet(seq)
    assert stream.received_total == 4  # 10, 11, 13, 14 (12 came late: counted lost)
    assert stream.lost_total == 1
    assert stream.highest == 14
