"""A slot's RTP rewriting, sans I/O: links that append to plain lists stand for subscribers."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortc.codecs import HEADER_EXTENSIONS
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import RtpPacket

from signaling.media import MediaStats
from signaling.media.fanout import SendFn, Slot

OPUS_PT, OPUS_CLOCK = 111, 48000


@dataclass
class ListLink:
    """A subscriber: the packets it was sent, and whether it is connected."""

    sent: list[bytes] = field(default_factory=list)
    connected: bool = True
    reports: list[tuple[int, int, int, int]] = field(default_factory=list)

    def send_function(self) -> SendFn | None:
        return self.sent.append if self.connected else None

    def report(self, *, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        self.reports.append((ntp, rtp_timestamp, packets, octets))


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def _slot(kind: str = "audio", clock: Clock | None = None) -> tuple[Slot, MediaStats]:
    stats = MediaStats()
    slot = Slot(kind, index=0, mid="1", payload_type=OPUS_PT, clock_rate=OPUS_CLOCK,
                send_parameters=RTCRtpSendParameters(headerExtensions=HEADER_EXTENSIONS[kind]),
                stats=stats, clock=clock or Clock(), ntp_clock=lambda: 1 << 40)
    return slot, stats


def _parsed(sent: list[bytes]) -> list[RtpPacket]:
    return [RtpPacket.parse(data) for data in sent]


def test_one_serialization_reaches_every_subscriber_but_the_source() -> None:
    slot, stats = _slot()
    links = {pid: ListLink() for pid in (1, 2, 3)}
    for pid, link in links.items():
        slot.attach(pid, link)
    slot.source = 3
    assert slot.forward([b"a", b"b"], 3, 960, keyframe=True) == 2
    assert links[1].sent == links[2].sent and links[3].sent == []
    packets = _parsed(links[1].sent)
    assert [p.payload for p in packets] == [b"a", b"b"]
    assert [p.marker for p in packets] == [0, 1]
    assert {p.ssrc for p in packets} == {slot.ssrc} and {p.payload_type for p in packets} == {
        OPUS_PT}
    assert packets[1].sequence_number == (packets[0].sequence_number + 1) & 0xFFFF
    assert (stats.frames_in, stats.frames_out, stats.packets_out) == (1, 2, 4)


def test_a_new_source_continues_the_timeline_from_the_wall_clock() -> None:
    clock = Clock()
    slot, _ = _slot(clock=clock)
    link = ListLink()
    slot.attach(9, link)
    slot.forward([b"x"], 1, 10_000, keyframe=True)
    clock.now += 0.02
    slot.forward([b"y"], 1, 10_960, keyframe=True)
    clock.now += 1.0
    slot.forward([b"z"], 2, 555, keyframe=True)  # another speaker, its own clock
    first, second, third = _parsed(link.sent)
    assert (second.timestamp - first.timestamp) & 0xFFFFFFFF == 960
    assert (third.timestamp - second.timestamp) & 0xFFFFFFFF == OPUS_CLOCK  # 1 s later
    assert [p.sequence_number - first.sequence_number for p in (second, third)] == [1, 2]


def test_video_subscribers_wait_for_a_keyframe_and_ask_for_one() -> None:
    slot, stats = _slot("video")
    link = ListLink()
    slot.attach(5, link)
    recipients = slot.ready()
    assert slot.take_keyframe_request() is True and stats.keyframes_requested == 1
    assert slot.forward([b"delta"], 1, 0, keyframe=False, recipients=recipients) == 0
    assert slot.forward([b"key"], 1, 3000, keyframe=True) == 1
    assert slot.forward([b"delta"], 1, 6000, keyframe=False) == 1
    assert [p.payload for p in _parsed(link.sent)] == [b"key", b"delta"]


def test_unconnected_links_are_skipped_and_nacks_resend_the_same_bytes() -> None:
    slot, stats = _slot()
    online, offline = ListLink(), ListLink(connected=False)
    out = slot.attach(1, online)
    slot.attach(2, offline)
    slot.forward([b"p"], 7, 0, keyframe=True)
    assert len(online.sent) == 1 and offline.sent == []
    sequence = _parsed(online.sent)[0].sequence_number
    slot.retransmit(out, sequence)
    slot.retransmit(out, (sequence + 100) & 0xFFFF)  # never sent: nothing
    assert online.sent == [online.sent[0]] * 2 and stats.retransmissions == 1
    out.update_sender_report()
    assert online.reports == [(1 << 40, _parsed(online.sent)[0].timestamp, 1,
                               len(online.sent[0]))]


def test_a_failing_send_is_counted_and_spares_the_others() -> None:
    slot, stats = _slot()
    good = ListLink()

    class Broken(ListLink):
        def send_function(self) -> SendFn | None:
            def fail(_data: bytes) -> None:
                raise OSError("network down")
            return fail

    slot.attach(1, Broken())
    slot.attach(2, good)
    assert slot.forward([b"q"], 7, 0, keyframe=True) == 1
    assert len(good.sent) == 1 and stats.send_errors == 1
