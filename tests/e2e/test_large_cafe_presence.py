"""A large café in the browser (issue 8's join storm, `signaling.presence`): beyond the
configured number of people (50 by default), a parent's list shows the team and themself and
"and N others", with the right count; the expert still sees everyone by name."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from e2e_harness import Cafe, Server
from e2e_pages import Room, go_live, open_cafe, wait_for_js
from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

# Parents joining with python-socketio, inside the server's network namespace, connected
# until their stdin closes.
CROWD = """
import asyncio, secrets, sys
import socketio

async def main(url, slug, count):
    clients = []
    for i in range(count):
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        ack = await client.call("join", {"cafe": slug, "pseudonym": f"Parent {i}",
                                         "browser_key": secrets.token_hex(16)}, timeout=10)
        assert ack.get("ok"), ack
        clients.append(client)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for client in clients:
        await client.disconnect()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@contextmanager
def crowd(server: Server, slug: str, count: int) -> Iterator[None]:
    process = subprocess.Popen(
        server.namespace.wrap([sys.executable, "-c", CROWD, server.base_url, slug,
                               str(count)]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    try:
        assert process.stdout.readline().strip() == "ready"
        yield
    finally:
        process.stdin.close()
        process.wait(30)
        process.stdout.close()


def test_a_parent_in_a_large_cafe_sees_the_team_and_a_count(
        room: Room, server: Server, cafe: Cafe, expert_browser: Browser,
        audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    go_live(expert)
    with crowd(server, cafe.slug, 50):
        marie = room.open(audience_browser, cafe.page, "Marie", width=390)
        # 52 here: the expert, 50 parents and Marie; above 50, parents see the team only
        wait_for_js(marie, "() => document.querySelector('#present-count').textContent"
                           ".includes('52 personnes présentes')")
        names = marie.locator("#presence .name").all_inner_texts()
        assert sorted(names) == ["Dr Martin", "Marie"], names
        assert "et 50 autres personnes" in marie.inner_text("#presence li.others")
        assert "seule l’équipe est listée" in marie.inner_text("#presence li.others")
        assert "Parent 7" not in marie.content()
        # the expert sees everyone, by name
        wait_for_js(expert, "() => document.querySelectorAll('#presence .name').length === 52")
        assert expert.locator("#presence li.others").count() == 0
        # a parent leaving lowers the count on Marie's page
    # the whole text: "52 personnes présentes" also includes "2 personnes présentes"
    wait_for_js(marie, "() => document.querySelector('#present-count').textContent.trim()"
                       " === '2 personnes présentes'", timeout=20)
    assert marie.locator("#presence li.others").count() == 0
