"""The consoles (issue 13): the moderator's queue on a phone, hands first, with alerts in
the page title and an optional sound, ages and votes, preset reasons to reject; the
expert's preview before going live, microphone meter, timer and parents count."""

from __future__ import annotations

import pytest
from e2e_harness import Cafe
from e2e_pages import Room, go_live, open_cafe, wait_for_js
from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e


def test_moderator_console_on_a_phone(room: Room, cafe: Cafe, audience_browser: Browser) -> None:
    expert = room.open(audience_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie", width=390)
    moderator.set_viewport_size({"width": 390, "height": 844})
    moderator.evaluate("() => window.scrollTo(0, 0)")
    # The queue, raised hands first, without scrolling past the video.
    hands = moderator.locator("#hands-title").bounding_box()
    pending = moderator.locator("#pending-title").bounding_box()
    video = moderator.locator("#player").bounding_box()
    assert hands and pending and video
    assert hands["y"] < pending["y"] < 844 and pending["y"] < video["y"], (hands, pending, video)
    base_title = moderator.title()
    moderator.check("#alert-sound")

    parent = room.open(audience_browser, cafe.page, "Marie")
    parent.click("#raise-hand")
    wait_for_js(moderator, "() => document.title.startsWith('(1) ')")
    parent.fill("#question-text", "Comment parler des écrans à 8 ans ?")
    parent.click("#ask-form button[type=submit]")
    wait_for_js(moderator, "() => document.title.startsWith('(2) ')")
    assert moderator.evaluate("() => window.causerie.room.alerts.played") == 2
    assert moderator.title().endswith(base_title)

    item = moderator.locator("#pending-questions .question").first
    item.wait_for()
    meta = item.locator(".meta").inner_text()
    assert "posée" in meta and "0 vote" in meta, meta

    item.locator("[data-action=reject]").click()
    moderator.locator("#prompt-presets button", has_text="Hors sujet").click()
    assert moderator.input_value("#prompt-input") == "Hors sujet pour ce café"
    moderator.click("#prompt-dialog button[value=ok]")
    parent.locator("#my-questions .reason", has_text="Hors sujet pour ce café").wait_for()
    wait_for_js(moderator, "() => document.title.startsWith('(1) ')")


def test_expert_console(room: Room, cafe: Cafe, expert_browser: Browser,
                        audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin")
    # Before going live: their own camera, and a word that only they see it.
    expert.wait_for_selector("#preview-note", state="visible")
    wait_for_js(expert, """() => { const v = document.getElementById('stage-video');
      return Boolean(v.srcObject && v.srcObject.getVideoTracks().length && v.videoWidth > 0); }""")
    assert expert.evaluate("() => window.causerie.publisher") is None  # nothing sent yet
    open_cafe(expert)
    room.open(audience_browser, cafe.page, "Marie")
    expert.locator("#waiting-count", has_text="1 parent dans la salle").wait_for()
    go_live(expert)
    assert expert.is_hidden("#preview-note")
    wait_for_js(expert, "() => document.getElementById('mic-level').value > 0.05")
    timer = expert.locator("#live-timer")
    timer.wait_for(state="visible")
    assert timer.inner_text().startswith("En direct depuis 0:00:")
    assert expert.inner_text(".answered summary").startswith("Répondues")
    assert expert.evaluate("() => window.causerie.room.t('mark-answered')") == (
        "Marquer comme répondue")
