"""ICE: the explicit `RTCConfiguration` built from the `IceSettings` (the ``ice`` section of
the server's config, defined in `signaling.settings` so the config loads without aiortc),
and the host addresses offered.

aiortc with ``iceServers`` unset falls back to a public Google STUN server, so the
configuration is always built here from the operator's settings (an empty list when none).

aioice gathers host candidates from every interface except loopback
(``aioice.ice.get_host_addresses``), so a server on 127.0.0.1 offers nothing usable there.
`offered_host_addresses` replaces that choice for the peer connections gathered inside it:
``aioice.ice.get_host_addresses`` is wrapped once per process (through `aiortc_hooks`) by a
function that reads a `ContextVar`; outside the context (or with an empty tuple) aioice's own
list is used, so other users of aiortc in the process are unaffected. Gathering runs in tasks
created inside ``setLocalDescription``, which copy the context, so the setting follows them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from signaling.settings import IceSettings, validate_host_addresses

from .aiortc_hooks import host_addresses_function, set_host_addresses_function

__all__ = [
    "IceSettings",
    "build_configuration",
    "ice_servers_for_browser",
    "offered_host_addresses",
    "validate_host_addresses",
]

_HOST_ADDRESSES: ContextVar[tuple[str, ...] | None] = ContextVar(
    "causerie_media_host_addresses", default=None
)
_original: Callable[[bool, bool], list[str]] | None = None


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    assert _original is not None
    chosen = _HOST_ADDRESSES.get()
    if not chosen:
        return _original(use_ipv4, use_ipv6)
    result = []
    for address in chosen:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            result.append(address)
    return result


def _install() -> None:
    global _original
    current = host_addresses_function()
    if current is _get_host_addresses:
        return
    _original = current
    set_host_addresses_function(_get_host_addresses)


@contextmanager
def offered_host_addresses(addresses: Sequence[str]) -> Iterator[None]:
    """Within this block, ICE gathering offers exactly ``addresses`` (all when empty)."""
    _install()
    token = _HOST_ADDRESSES.set(tuple(addresses) or None)
    try:
        yield
    finally:
        _HOST_ADDRESSES.reset(token)


def build_configuration(ice: IceSettings | None = None) -> RTCConfiguration:
    """The explicit configuration: STUN and TURN from settings, never a default server.

    Bundle policy ``max-bundle``: one transport for every section. (With aiortc's default
    ``balanced``, the third and later sections of one kind keep a transport that BUNDLE
    then discards, and their media never leaves: aiortc 1.16's ``__createTransceiver``.)
    """
    ice = ice or IceSettings()
    servers: list[RTCIceServer] = []
    if ice.stun_urls:
        servers.append(RTCIceServer(urls=list(ice.stun_urls)))
    if ice.turn_urls:
        servers.append(
            RTCIceServer(
                urls=list(ice.turn_urls),
                username=ice.turn_username or None,
                credential=ice.turn_credential or None,
            )
        )
    return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def ice_servers_for_browser(ice: IceSettings) -> list[dict[str, Any]]:
    """The same servers as `build_configuration`, as the browser's `RTCIceServer` list
    (the join ack's ``ice_servers``)."""
    servers: list[dict[str, Any]] = []
    if ice.stun_urls:
        servers.append({"urls": list(ice.stun_urls)})
    if ice.turn_urls:
        servers.append({"urls": list(ice.turn_urls), "username": ice.turn_username,
                        "credential": ice.turn_credential})
    return servers
