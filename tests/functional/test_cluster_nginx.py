"""Beyond one process: two `causerie serve` processes (media nodes n1 and n2, each with its own
data directory, as on two machines) on PostgreSQL and Redis behind a real nginx running the
configuration shipped in docs/deploy/nginx.conf. Two cafés get their media on different
nodes; the experts publish and the parents receive real audio through aiortc with every
socket going through nginx (websocket and polling); each café's live HLS, written on its
node only, is fetched through nginx."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_multiprocess_redis as multiprocess
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame
from media_support import publish_tone
from nginx_support import Nginx, free_port, nginx_binary, running
from signaling_fixtures import Peer, connect, invite, make_cafe

from sessions.cafe import Cafe
from sessions.clock import SystemClock
from sessions.roles import Role
from sessions.service_cafes import CafeService
from sessions.storage.database import Database
from signaling.media import build_configuration, offered_host_addresses

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

TEST_SECRET = multiprocess.TEST_SECRET
redis_url = multiprocess.redis_url  # the fixture: a Redis database of this test's own

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "docs" / "deploy" / "nginx.conf"


def proxy_config(listen: int, n1: int, n2: int) -> str:
    """The shipped file with this test's ports: the rules under test are the shipped ones."""
    text = SHIPPED.read_text()
    for old, new in (("127.0.0.1:8080", f"127.0.0.1:{listen}"),
                     ("127.0.0.1:8001", f"127.0.0.1:{n1}"),
                     ("127.0.0.1:8002", f"127.0.0.1:{n2}")):
        assert old in text, f"{old} not in {SHIPPED}"
        text = text.replace(old, new)
    assert "8001" not in text and "8002" not in text
    return text


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str, postgres_database: str
            ) -> Iterator[tuple[str, str, dict[str, int]]]:
    """(proxy URL, database URL, node -> port): two nodes behind nginx, on the session's
    migrated PostgreSQL database."""
    nginx_binary()
    database_url = postgres_database
    ports = {"n1": free_port(), "n2": free_port()}
    base = {**os.environ,
            "CAUSERIE_DATABASE_URL": database_url, "CAUSERIE_SECRET_KEY": TEST_SECRET,
            "CAUSERIE_REDIS_URL": redis_url, "CAUSERIE_LOG_LEVEL": "WARNING",
            "CAUSERIE_WHISPER__LIVE_CAPTIONS": "false",
            "CAUSERIE_ICE__HOST_ADDRESSES": '["127.0.0.1"]'}
    procs = {node: subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        # a data directory each, as on two machines (the HLS files are the node's own)
        env={**base, "CAUSERIE_CLUSTER__NODE_ID": node,
             "CAUSERIE_DATA_DIR": str(tmp_path / node / "var")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for node, port in ports.items()}
    listen = free_port()
    nginx = Nginx(tmp_path / "nginx", http=proxy_config(listen, ports["n1"], ports["n2"]),
                  ports=(listen,))
    try:
        deadline = time.monotonic() + 40
        for node, proc in procs.items():
            multiprocess._wait_healthy(ports[node], proc, deadline)
        with running(nginx):
            yield f"http://127.0.0.1:{listen}", database_url, ports
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def fetch_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def page_node(proxy: str, cafe: Cafe) -> str:
    found = re.search(r'data-media-node="([a-z0-9-]*)"', get(f"{proxy}/cafes/{cafe.slug}"))
    assert found is not None
    return found.group(1)


def media_cafes(port: int) -> float:
    """`causerie_media_cafes` of one process, read on it directly (not through nginx)."""
    text = get(f"http://127.0.0.1:{port}/metrics")
    found = re.search(r"^causerie_media_cafes (\S+)$", text, re.M)
    assert found is not None, text[:500]
    return float(found.group(1))


async def hls_reachable(proxy: str, cafe: Cafe) -> None:
    base = f"{proxy}/cafes/{cafe.slug}/live"

    async def listed() -> str:
        for _ in range(150):
            try:
                media = re.search(r"^(\S+/live\.m3u8)$",
                                  await asyncio.to_thread(get, f"{base}/index.m3u8"), re.M)
                if media is not None:
                    playlist = await asyncio.to_thread(get, f"{base}/{media.group(1)}")
                    segment = re.search(r"^(\S+\.ts)$", playlist, re.M)
                    if segment is not None:
                        run = media.group(1).split("/")[0]
                        return f"{base}/{run}/{segment.group(1)}"
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
            await asyncio.sleep(0.2)
        raise AssertionError(f"no HLS segment listed for {cafe.slug}")

    segment = await asyncio.to_thread(fetch_bytes, await listed())
    assert len(segment) > 1000


async def receive_audio(peer: Peer, pcs: list[RTCPeerConnection]) -> AudioFrame:
    ack = await peer.call("media.subscribe", {})
    assert ack["ok"] is True, ack
    pc = RTCPeerConnection(build_configuration())
    pcs.append(pc)
    received: list[MediaStreamTrack] = []
    pc.on("track", received.append)
    await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "offer"))
    with offered_host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createAnswer())
    assert pc.localDescription is not None
    answered = await peer.call("media.answer", {"sdp": pc.localDescription.sdp,
                                                "type": "answer"})
    assert answered["ok"] is True, answered
    audio = [t for t in received if t.kind == "audio"]
    frame = await asyncio.wait_for(audio[0].recv(), 15)
    assert isinstance(frame, AudioFrame)
    return frame


async def test_two_cafes_get_their_media_on_two_nodes_through_nginx(
        cluster: tuple[str, str, dict[str, int]], pcs: list[RTCPeerConnection]) -> None:
    proxy, database_url, ports = cluster
    db = Database(database_url)
    peers: list[Peer] = []
    try:
        cafes = CafeService(db, SystemClock(), TEST_SECRET)
        first = await make_cafe(cafes, title="Les écrans", live=True)
        second = await make_cafe(cafes, title="Les jeux vidéo", live=True)
        # the least-loaded live node, written in Redis by whichever process served the page
        nodes = {first.id: page_node(proxy, first), second.id: page_node(proxy, second)}
        assert sorted(nodes.values()) == ["n1", "n2"]
        assert page_node(proxy, first) == nodes[first.id]  # kept, from either process

        for cafe, transports in ((first, ("websocket",)), (second, ("polling",))):
            url = f"{proxy}/?node={nodes[cafe.id]}"
            expert = await connect(url, transports=transports)
            parent = await connect(url, transports=transports)
            peers += [expert, parent]
            token = await invite(cafes, cafe, Role.EXPERT)
            assert (await expert.join(cafe, "Dr Martin", invite=token))["ok"] is True
            assert (await parent.join(cafe, "Marie"))["ok"] is True
            published = await publish_tone(expert, pcs)
            assert published["ok"] is True, published
            await receive_audio(parent, pcs)

        # each process holds the media of one café
        assert media_cafes(ports["n1"]) == 1 and media_cafes(ports["n2"]) == 1

        # each café's live HLS, written on its node only, is reachable through nginx
        for cafe in (first, second):
            await hls_reachable(proxy, cafe)

        # a socket that reaches the wrong node (a stale page) is told so, and joins anyway
        wrong = next(n for n in ("n1", "n2") if n != nodes[first.id])
        stray = await connect(f"{proxy}/?node={wrong}")
        peers.append(stray)
        assert (await stray.join(first, "Paul"))["ok"] is True
        refused = await stray.call("media.subscribe", {})
        assert refused["error"]["code"] == "media_elsewhere"
        # ...while the café's own events still reach it across processes (Redis)
        assert (await stray.call("chat.send", {"text": "Bonjour"}))["ok"] is True
        assert (await peers[1].next("chat.message"))["text"] == "Bonjour"
    finally:
        for peer in peers:
            await peer.close()
        await db.close()


async def test_page_names_no_node_without_a_cluster(client: Any, app: Any) -> None:
    """One process (no `cluster.node_id`): the page's node is empty, the socket URL plain."""
    from server.keys import CAFES

    cafe = await make_cafe(app[CAFES], live=True)
    body = await (await client.get(f"/cafes/{cafe.slug}")).text()
    assert 'data-media-node=""' in body
