"""What the simulcast tests share: an nginx-rtmp ingest that records (and, for rtmps, TLS in
front of it through nginx's `stream` module, with certificates made here), an expert
publishing a moving picture and espeak speech with aiortc, the admin page's status line,
and reading back what nginx recorded (duration, codecs, the words Whisper hears)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaPlayer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from media_support import negotiate_publish
from nginx_support import Nginx, free_port, nginx_binary, rtmp_ingest, tls_front
from revocation_support import PASSWORD
from signaling_fixtures import Peer
from test_media_forwarding import MovingPicture

from signaling.media import build_configuration

SPEECH = ("Parents should talk with their children about screens, video games and social "
          "networks, every evening, before bed.")
EXPECTED_WORDS = {"parents", "talk", "children", "screens", "video", "games", "social",
                  "networks", "evening", "bed"}


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the authority the app is told to trust (simulcast.ca_file)
    cert: Path  # 127.0.0.1, signed by it
    key: Path
    rogue_cert: Path  # 127.0.0.1 too, self-signed: no one vouches for it
    rogue_key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey,
                 issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
                 *, ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer if issuer is not None else (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("Causerie test CA", ca_key, None, ca=True)
    cert = _certificate("127.0.0.1", key, (ca.subject, ca_key), ca=False)
    rogue = _certificate("127.0.0.1", rogue_key, None, ca=False)
    paths = Certificates(folder / "ca.pem", folder / "cert.pem", folder / "key.pem",
                         folder / "rogue.pem", folder / "rogue-key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(_key_pem(key))
    paths.rogue_cert.write_bytes(rogue.public_bytes(serialization.Encoding.PEM))
    paths.rogue_key.write_bytes(_key_pem(rogue_key))
    return paths


@dataclass(frozen=True)
class RtmpsServer:
    nginx: Nginx
    rtmp: int  # plain RTMP
    tls: int  # TLS with a certificate the app trusts, in front of it
    rogue: int  # TLS with a self-signed certificate, in front of the same ingest
    recorded: Path
    certificates: Certificates


def rtmps_server(folder: Path, certificates: Certificates,
                 wrap: Callable[[list[str]], list[str]] | None = None) -> RtmpsServer:
    nginx_binary()
    rtmp, tls, rogue = free_port(), free_port(), free_port()
    recorded = folder / "recorded"
    recorded.mkdir(parents=True)
    c = certificates
    stream = (tls_front(tls, c.cert, c.key, rtmp) + "\n"
              + tls_front(rogue, c.rogue_cert, c.rogue_key, rtmp))
    nginx = Nginx(folder / "nginx", rtmp=rtmp_ingest(rtmp, recorded), stream=stream,
                  ports=(rtmp, tls, rogue), wrap=wrap)
    return RtmpsServer(nginx, rtmp, tls, rogue, recorded, certificates)


async def until(predicate: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


async def admin_status(base: str, email: str, slug: str,
                       keys: tuple[str, ...]) -> dict[str, str]:
    """Each destination's status line on the café's admin page (by destination id); none
    of ``keys`` in the page."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{base}/login") as response:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
        assert token is not None
        async with session.post(f"{base}/login", allow_redirects=False, data={
                "email": email, "password": PASSWORD, "csrf_token": token.group(1),
                "next": "/admin"}) as response:
            assert response.status == 303
        async with session.get(f"{base}/admin/cafes/{slug}") as response:
            page = await response.text()
    for key in keys:
        assert key not in page
    return dict(re.findall(r'<li data-destination="(\d+)"[^>]*>.*?'
                           r'<span class="status" role="status">([^<]*)</span>', page,
                           re.DOTALL))


async def publish_expert(expert: Peer, speech: Path, pcs: list[RTCPeerConnection]) -> None:
    """The expert's aiortc publisher: ``speech`` (looped) and a moving picture."""
    player = MediaPlayer(str(speech), loop=True)
    pc = RTCPeerConnection(build_configuration())
    pcs.append(pc)
    assert player.audio is not None
    pc.addTrack(player.audio)
    pc.addTrack(MovingPicture())
    ack = await negotiate_publish(expert, pc)
    assert ack["ok"] is True, ack


@pytest.fixture(scope="session")
def whisper_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The packaged Whisper base model (the cache the other Whisper tests share)."""
    from faster_whisper import WhisperModel

    from transcripts.model import resolve_model

    cache = tmp_path_factory.getbasetemp().parent / "whisper-base-cache"
    return WhisperModel(resolve_model("", cache), device="cpu", compute_type="int8",
                        cpu_threads=2)


def words(model: Any, path: Path) -> set[str]:
    segments, _ = model.transcribe(str(path), language="en", beam_size=5,
                                   condition_on_previous_text=False)
    return set(re.findall(r"[a-z]+", " ".join(s.text for s in segments).lower()))


def read_flv(path: Path) -> tuple[float, set[str]]:
    """The video's duration (first to last picture) and the codecs of an FLV."""
    with av.open(str(path)) as container:
        codecs = {s.codec_context.name for s in container.streams}
    with av.open(str(path)) as container:
        pts = [p.pts * p.time_base for p in container.demux(video=0)
               if p.pts is not None and p.time_base is not None]
    duration = float(max(pts) - min(pts)) if pts else 0.0
    return duration, codecs


async def no_status(board: Any, cafe_id: int) -> bool:
    return not await board.read(cafe_id)
