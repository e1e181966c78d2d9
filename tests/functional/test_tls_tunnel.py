"""The rtmps tunnel alone, against a real TLS server on loopback (an echo): bytes go through
when the certificate chains to the trusted authority and names the host; a self-signed
certificate, or one for another name, ends the local connection before a byte is sent on,
and the tunnel says why. Certificates made by `simulcast_support.make_certificates`."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from simulcast_support import Certificates, make_certificates

from signaling.media.tls_tunnel import TlsTunnel, verifying_context


class Echo:
    """A TLS echo server; counts what it received."""

    def __init__(self) -> None:
        self.received = b""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            self.received += data
            writer.write(data)
            await writer.drain()
        writer.close()


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


async def _echo(cert: Path, key: Path) -> tuple[Echo, asyncio.Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    echo = Echo()
    server = await asyncio.start_server(echo.serve, "127.0.0.1", 0, ssl=context)
    return echo, server


@pytest.fixture
async def servers(certificates: Certificates,
                  ) -> AsyncIterator[dict[str, tuple[Echo, int]]]:
    made = {"trusted": await _echo(certificates.cert, certificates.key),
            "rogue": await _echo(certificates.rogue_cert, certificates.rogue_key)}
    yield {name: (echo, int(server.sockets[0].getsockname()[1]))
           for name, (echo, server) in made.items()}
    for _, server in made.values():
        server.close()
        await server.wait_closed()


async def _through(tunnel: TlsTunnel, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", tunnel.port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(len(data)), 10)
    finally:
        writer.close()


async def test_a_verified_server_gets_the_bytes(certificates: Certificates,
                                                servers: dict[str, tuple[Echo, int]]) -> None:
    echo, port = servers["trusted"]
    tunnel = TlsTunnel("t", "127.0.0.1", port, verifying_context(str(certificates.ca)))
    await tunnel.start()
    try:
        assert await _through(tunnel, b"\x03rtmp handshake") == b"\x03rtmp handshake"
    finally:
        await tunnel.aclose()
    assert echo.received == b"\x03rtmp handshake"
    assert tunnel.connections == 1 and tunnel.error == ""


@pytest.mark.parametrize(("server", "host", "reason"), [
    ("rogue", "127.0.0.1", "self-signed certificate"),
    ("trusted", "localhost", "Hostname mismatch"),  # signed, but for 127.0.0.1 only
])
async def test_an_unverified_server_gets_nothing(
        certificates: Certificates, servers: dict[str, tuple[Echo, int]],
        server: str, host: str, reason: str) -> None:
    echo, port = servers[server]
    tunnel = TlsTunnel("t", host, port, verifying_context(str(certificates.ca)))
    await tunnel.start()
    try:
        assert await _through(tunnel, b"stream key inside") == b""  # closed
    finally:
        await tunnel.aclose()
    assert echo.received == b""
    assert tunnel.certificate_refused and reason in tunnel.error, tunnel.error
    assert tunnel.connections == 0


async def test_the_system_authorities_do_not_vouch_for_the_test_ca(
        servers: dict[str, tuple[Echo, int]]) -> None:
    echo, port = servers["trusted"]
    tunnel = TlsTunnel("t", "127.0.0.1", port, verifying_context())
    await tunnel.start()
    try:
        assert await _through(tunnel, b"x") == b""
    finally:
        await tunnel.aclose()
    assert echo.received == b"" and tunnel.certificate_refused, tunnel.error
