"""A loopback TLS tunnel for ``rtmps://`` pushes, with the peer's certificate verified.

FFmpeg in PyAV's wheel speaks rtmps (it carries GnuTLS), but its TLS layer does not verify
the server's certificate unless told to (``tls_verify`` defaults to 0), and PyAV opens an
output with ``avio_open`` and no options, so it cannot be told: a push straight to
``rtmps://`` would hand the stream key to whoever answers. So an rtmps destination is pushed
as plain RTMP to this tunnel on 127.0.0.1, which forwards each connection over TLS verified
by Python's `ssl` (the context's CA certificates, the destination's host name). A server
whose certificate fails never gets a byte of the stream (the key travels after the TLS
handshake); the tunnel keeps the failure for the admin page's status line.

Runs on the event loop that starts it; logs name the tunnel (``cafe=..-destination=..``),
never the destination's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

logger = logging.getLogger("causerie.media.tls_tunnel")

__all__ = ["TlsTunnel", "verifying_context"]

_CHUNK = 64 * 1024


def verifying_context(ca_file: str = "") -> ssl.SSLContext:
    """A client context that verifies the certificate chain and the host name: against
    ``ca_file`` (PEM) when given, else the system's certificate authorities."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    return context


class TlsTunnel:
    """127.0.0.1:``port`` (any free one) forwarded over verified TLS to ``host``:``remote``."""

    def __init__(self, name: str, host: str, remote: int, context: ssl.SSLContext, *,
                 connect_timeout: float = 10.0) -> None:
        self.name = name
        self.host = host
        self.remote = remote
        self.context = context
        self.connect_timeout = connect_timeout
        self.port = 0
        self.error = ""  # the last connection's failure ("" once one got through)
        self.certificate_refused = False  # that failure was the certificate's
        self.connections = 0  # TLS connections established
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, local_r: asyncio.StreamReader,
                     local_w: asyncio.StreamWriter) -> None:
        self._writers.add(local_w)
        try:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    remote_r, remote_w = await asyncio.open_connection(
                        self.host, self.remote, ssl=self.context, server_hostname=self.host,
                        ssl_handshake_timeout=self.connect_timeout)
            except OSError as exc:  # ssl.SSLError and TimeoutError are OSErrors
                self._failed(exc)
                return
            self.error, self.certificate_refused = "", False
            self.connections += 1
            self._writers.add(remote_w)
            try:
                await asyncio.gather(_pipe(local_r, remote_w), _pipe(remote_r, local_w))
            finally:
                self._writers.discard(remote_w)
                remote_w.close()
        finally:
            self._writers.discard(local_w)
            local_w.close()

    def _failed(self, exc: OSError) -> None:
        self.certificate_refused = isinstance(exc, ssl.SSLCertVerificationError)
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = exc.verify_message or "certificate verify failed"
        elif isinstance(exc, TimeoutError):  # an OSError too
            detail = "timed out"
        else:
            detail = exc.strerror or str(exc)
        self.error = f"{type(exc).__name__}: {detail}"
        logger.warning("tls tunnel connect failed name=%s: %s", self.name, self.error)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side ends; then end the other (a half-open RTMP is of no use)."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
