"""Every access to aiortc's (and aioice's) private state, in one place.

The media plane shares one RTP stream among many subscribers' connections (see `fanout`),
which aiortc's public API cannot express. Each function below names the private attribute
it touches, why, and the version it was checked against (aiortc 1.16.0, aioice 0.13.0).
`PRIVATE_ATTRIBUTES` lists them for `tests/unit/test_aiortc_hooks.py`, which builds real
aiortc objects and fails, naming the attribute, if an upgrade removes one.

Nothing outside this module reads or writes an underscore attribute of aiortc or aioice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aioice.ice
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

__all__ = [
    "CHECKED_AGAINST",
    "PRIVATE_ATTRIBUTES",
    "SendFn",
    "fast_sender",
    "hook_sender",
    "host_addresses_function",
    "negotiated_codecs",
    "set_host_addresses_function",
    "set_sender_report",
    "set_sender_ssrc",
]

CHECKED_AGAINST = {"aiortc": "1.16.0", "aioice": "0.13.0"}

SendFn = Callable[[bytes], None]
HostAddresses = Callable[[bool, bool], list[str]]

# (object, attribute): what each hook below relies on. Checked by a test on real objects.
PRIVATE_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("RTCRtpSender", "_ssrc"),
    ("RTCRtpSender", "_send_keyframe"),
    ("RTCRtpSender", "_retransmit"),
    ("RTCRtpSender", "_RTCRtpSender__ntp_timestamp"),
    ("RTCRtpSender", "_RTCRtpSender__rtp_timestamp"),
    ("RTCRtpSender", "_RTCRtpSender__packet_count"),
    ("RTCRtpSender", "_RTCRtpSender__octet_count"),
    ("RTCRtpTransceiver", "_codecs"),
    ("RTCDtlsTransport", "_tx_srtp"),
    ("RTCIceTransport", "_connection"),
    ("aioice.Connection", "_nominated"),
    ("aioice.ice", "get_host_addresses"),
)


def set_sender_ssrc(sender: RTCRtpSender, ssrc: int) -> None:
    """Make a subscriber's sender announce the slot's SSRC (``_ssrc``, set before the offer
    is created so the SDP carries it): every subscriber of a slot gets the same packets."""
    sender._ssrc = ssrc


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs negotiated for a transceiver (``_codecs``, filled by setRemoteDescription;
    aiortc has no public getter): the slot forwards only if its payload type came first."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    return codecs


def hook_sender(sender: RTCRtpSender, *, keyframe: Callable[[], None],
                retransmit: Callable[[int], Awaitable[None]]) -> None:
    """Route the sender's RTCP feedback to the slot: a PLI/FIR calls ``keyframe`` (instead
    of ``_send_keyframe``, which would ask the idle track), a NACK calls ``retransmit``
    (instead of ``_retransmit``, whose history is empty: the slot keeps the packets).
    Instance attributes shadow the methods aiortc's RTCP loop calls."""
    sender.__dict__["_send_keyframe"] = keyframe
    sender.__dict__["_retransmit"] = retransmit


def set_sender_report(sender: RTCRtpSender, *, ntp: int, rtp_timestamp: int, packets: int,
                      octets: int) -> None:
    """Feed the sender's RTCP sender reports with the shared stream's figures: aiortc
    builds them from name-mangled counters its own (idle) RTP loop would have updated."""
    values = sender.__dict__
    values["_RTCRtpSender__ntp_timestamp"] = ntp
    values["_RTCRtpSender__rtp_timestamp"] = rtp_timestamp
    values["_RTCRtpSender__packet_count"] = packets
    values["_RTCRtpSender__octet_count"] = octets


def fast_sender(sender: RTCRtpSender) -> SendFn | None:
    """A function sending one plain RTP packet on ``sender``'s connection, or None while
    its DTLS transport is not connected.

    It does what ``RTCDtlsTransport._send_rtp`` does without its three awaits: SRTP
    protection with the connection's outbound session (``_tx_srtp``), then ``sendto`` on
    the nominated ICE pair (``RTCIceTransport._connection``, aioice's ``_nominated``).
    """
    dtls = sender.transport
    if dtls.state != "connected":
        return None
    srtp = getattr(dtls, "_tx_srtp", None)
    connection = getattr(dtls.transport, "_connection", None)
    if srtp is None or connection is None:
        return None
    pair = connection._nominated.get(1)
    if pair is None or pair.protocol.transport is None:
        return None
    protect = srtp.protect
    sendto = pair.protocol.transport.sendto
    addr = pair.remote_addr

    def send(data: bytes) -> None:
        sendto(protect(data), addr)

    return send


def host_addresses_function() -> HostAddresses:
    """aioice's ``get_host_addresses``: the module function it calls to gather host
    candidates (no setting chooses them; `ice.offered_host_addresses` wraps it)."""
    current: HostAddresses = aioice.ice.get_host_addresses
    return current


def set_host_addresses_function(function: HostAddresses) -> None:
    setattr(aioice.ice, "get_host_addresses", function)  # noqa: B010 - a function slot


def owners(transceiver: RTCRtpTransceiver) -> dict[str, object]:
    """The objects `PRIVATE_ATTRIBUTES` names, reached from a transceiver whose peer
    connection has a local description (for the test that checks them)."""
    sender = transceiver.sender
    dtls = sender.transport
    return {
        "RTCRtpSender": sender,
        "RTCRtpTransceiver": transceiver,
        "RTCDtlsTransport": dtls,
        "RTCIceTransport": dtls.transport,
        "aioice.Connection": getattr(dtls.transport, "_connection", None),
        "aioice.ice": aioice.ice,
    }
