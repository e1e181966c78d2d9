"""A parent raises a hand, a moderator invites her on stage and she accepts: her browser
publishes the microphone and the expert hears her; sent back to the audience, she stops
publishing."""

from __future__ import annotations

import pytest
from e2e_harness import Cafe
from e2e_pages import Room, go_live, open_cafe, wait_for_js, wait_for_media
from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

AUDIO_IN = """() => {
  const pc = window.causerie.subscriber;
  if (!pc) return 0;
  return pc.getStats().then((stats) => {
    let bytes = 0;
    stats.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") bytes += r.bytesReceived || 0;
    });
    return bytes;
  });
}"""


def test_raised_hand_brought_on_stage_is_heard_then_sent_back(
        room: Room, cafe: Cafe, expert_browser: Browser, audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin", raw_audio=True)
    open_cafe(expert)
    go_live(expert)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie")
    parent = room.open(audience_browser, cafe.page, "Marie", width=390)
    wait_for_media(parent)

    parent.click("#raise-hand")
    parent.wait_for_selector('#raise-hand[aria-pressed="true"]')
    hand = moderator.locator("#hands li", has_text="Marie")
    hand.get_by_role("button").first.click()  # "bring on stage"
    parent.click("#stage-accept")  # she reads what will happen, and accepts

    parent.wait_for_selector("#on-stage:not([hidden])")
    wait_for_js(parent, "() => window.causerie.publisher?.connectionState === 'connected'", 20)
    # The expert's page subscribes to the new speaker and receives her audio.
    wait_for_js(expert, f"async () => (await ({AUDIO_IN})()) > 2000", 20)
    moderator.locator("#speakers li", has_text="Marie").wait_for()

    moderator.locator("#speakers li", has_text="Marie").get_by_role("button").last.click()
    parent.wait_for_selector("#on-stage", state="hidden")
    wait_for_js(parent, "() => window.causerie.publisher === null", 10)
    wait_for_media(parent)  # still watching the expert
