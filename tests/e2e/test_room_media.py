"""The expert's camera and (spoken) microphone reach two parents' browsers through the
server; a parent who reloads gets media back, and everyone recovers from a server restart
without reloading."""

from __future__ import annotations

import pytest
from e2e_harness import Cafe, Server
from e2e_pages import (
    Room,
    go_live,
    inbound,
    open_cafe,
    wait_for_js,
    wait_for_media,
    wait_for_publisher,
)
from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e


def test_two_parents_receive_video_and_audio_and_a_reload_gets_media_back(
        room: Room, cafe: Cafe, expert_browser: Browser, audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin", raw_audio=True)
    assert expert.get_attribute("body", "data-role") == "expert"
    open_cafe(expert)
    go_live(expert)

    marie = room.open(audience_browser, cafe.page, "Marie", width=390)
    paul = room.open(audience_browser, cafe.page, "Paul")
    for parent in (marie, paul):
        media = wait_for_media(parent)
        assert media.state == "connected"
        parent.wait_for_selector("#player-empty", state="hidden")
    # The spoken WAV (not silence) arrived: the decoder measured sound energy.
    assert (wait_for_media(paul).audio_energy > 0 or wait_for_media(marie).audio_energy > 0)

    # Everyone sees everyone.
    wait_for_js(expert, "() => document.querySelectorAll('#presence li').length === 3")

    marie.reload()  # rejoins by itself (same tab), gets a new subscriber connection
    marie.wait_for_selector('#connection-state[data-state="connected"]')
    wait_for_media(marie)
    # The same browser_key: still one "Marie" in the list, not two.
    wait_for_js(paul, "() => [...document.querySelectorAll('#presence .name')]"
                      ".filter((n) => n.textContent === 'Marie').length === 1")


def test_media_comes_back_after_a_server_restart_without_reloading(
        room: Room, cafe: Cafe, server: Server, expert_browser: Browser,
        audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin", raw_audio=True)
    open_cafe(expert)
    go_live(expert)
    parent = room.open(audience_browser, cafe.page, "Nadia")
    wait_for_media(parent)
    parent.evaluate("window.__sameDocument = true")

    server.restart()

    for page in (expert, parent):
        page.wait_for_selector('#connection-state[data-state="connected"]', timeout=30_000)
    wait_for_publisher(expert, timeout=30)
    media = wait_for_media(parent, timeout=30)
    assert media.state == "connected"
    assert parent.evaluate("window.__sameDocument") is True  # no reload happened
    assert inbound(parent) is not None
