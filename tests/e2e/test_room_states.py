"""The room's states as people meet them (issue 13's numbered bugs): before the café opens,
after it ends, the expert's camera going off, the moderator's tabs, a long pseudonym in
the chat, the raised-hand badge, what the author of an edited or merged question is told,
and the words of removing and banning, in the room and in the moderation log."""

from __future__ import annotations

import re

import pytest
from e2e_harness import Cafe, Server
from e2e_pages import Room, end_cafe, go_live, open_cafe, wait_for_media
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

NOT_STARTED = "pas encore commencé"
# Things only staff, or only a joined participant, may use: none shows before the opening.
STAFF_OR_JOINED = ("#tab-moderation", "#panel-moderation", "#pending-questions", "#hands",
                   "#ask-form", "#raise-hand", "#chat-form", "#open-cafe", "#end-cafe",
                   "#publisher")


def visible_text_count(page: Page, text: str) -> int:
    return page.get_by_text(text).filter(visible=True).count()


def test_before_the_opening_then_after_the_end(room: Room, cafe: Cafe,
                                               audience_browser: Browser) -> None:
    parent = room.open(audience_browser, cafe.page, "Paul", width=390)
    parent.wait_for_selector("#room-waiting:not([hidden]), #not-live-notice:not([hidden])")
    for selector in STAFF_OR_JOINED:
        assert not parent.is_visible(selector), selector
    assert visible_text_count(parent, NOT_STARTED) == 1
    assert parent.get_by_text(NOT_STARTED).filter(visible=True).inner_text().count("'") == 0

    expert = room.open(audience_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    parent.wait_for_selector('body[data-role="participant"]', timeout=10_000)
    parent.wait_for_selector("#ask-form", state="visible")
    assert visible_text_count(parent, NOT_STARTED) == 0
    end_cafe(expert)
    for page in (parent, expert):
        page.wait_for_selector("#ended-panel:not([hidden])")
        assert visible_text_count(page, NOT_STARTED) == 0, page.url
        assert page.get_by_text("terminé").filter(visible=True).count() >= 1


def test_parents_are_told_when_the_camera_goes_off(room: Room, cafe: Cafe,
                                                   expert_browser: Browser,
                                                   audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    go_live(expert)
    parent = room.open(audience_browser, cafe.page, "Marie", width=390)
    wait_for_media(parent)
    parent.wait_for_selector("#player-empty", state="hidden")

    expert.click("#toggle-camera")
    off = parent.locator("#player-empty")
    off.wait_for(state="visible", timeout=8_000)
    assert "caméra" in off.inner_text().lower()
    expert.click("#toggle-camera")
    off.wait_for(state="hidden", timeout=8_000)

    expert.click("#stop-live")
    off.wait_for(state="visible", timeout=8_000)
    assert "caméra" in off.inner_text().lower()


def tab_bar_fits(page: Page) -> bool:
    return bool(page.evaluate("""() => {
      const bar = document.querySelector('.tabs [role=tablist]') || document.querySelector('.tabs');
      const box = bar.getBoundingClientRect();
      const tabs = [...bar.querySelectorAll('[role=tab]')].filter((t) => !t.hidden);
      return bar.scrollWidth <= bar.clientWidth + 1
        && tabs.every((t) => t.getBoundingClientRect().right <= box.right + 1);
    }"""))


def test_moderator_tabs_chat_hand_badge_and_what_authors_are_told(
        room: Room, cafe: Cafe, audience_browser: Browser) -> None:
    expert = room.open(audience_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie")

    # Every tab whole at 1280 px; on a narrow screen, a hint says more tabs are there.
    assert tab_bar_fits(moderator)
    moderator.set_viewport_size({"width": 360, "height": 800})
    moderator.click("#tab-people")
    overflowing = not tab_bar_fits(moderator)
    hint = moderator.locator(".tabs[data-more]")
    assert (hint.count() == 1) == overflowing
    assert moderator.evaluate("""() => {
      const tab = document.getElementById('tab-people').getBoundingClientRect();
      const bar = document.querySelector('[role=tablist]').getBoundingClientRect();
      return tab.left >= bar.left - 1 && tab.right <= bar.right + 1; }""")
    moderator.set_viewport_size({"width": 1280, "height": 900})

    # A long pseudonym does not squeeze the message it signs.
    long_name = "Marie-Bérénice-Charlotte-Dupontel-Lefèvre"[:40]
    parent = room.open(audience_browser, cafe.page, long_name, width=390)
    parent.click("#tab-chat")
    parent.fill("#chat-text", "Bonsoir, merci pour ce café sur les écrans du soir.")
    parent.click("#chat-form button[type=submit]")
    for page in (parent, moderator):
        if page is moderator:
            page.click("#tab-chat")
        text = page.locator("#chat-messages li .text").last
        text.wait_for()
        width = text.evaluate("(n) => n.getBoundingClientRect().width")
        line = text.evaluate("(n) => n.closest('li').getBoundingClientRect().width")
        assert width >= 0.6 * line, (width, line)

    # The moderator is on the chat tab: a raised hand shows on the moderation tab.
    parent.click("#tab-questions")
    parent.click("#raise-hand")
    moderator.locator("#tab-moderation .count").filter(visible=True).filter(
        has_text="1").wait_for(timeout=8_000)

    # An edited question says so to its author; a merged one tells its author where it went.
    moderator.click("#tab-moderation")
    parent.fill("#question-text", "Mon fils Lucas joue la nuit, que faire ?")
    parent.click("#ask-form button[type=submit]")
    moderator.locator("#pending-questions .question").first.wait_for()
    moderator.locator("#pending-questions [data-action=edit]").first.click()
    moderator.fill("#prompt-input", "Mon fils joue la nuit, que faire ?")
    moderator.click("#prompt-dialog button[value=ok]")
    parent.locator("#my-questions .question", has_text="Mon fils joue la nuit").filter(
        has_text="modifiée").wait_for(timeout=8_000)

    other = room.open(audience_browser, cafe.page, "Paul")
    other.fill("#question-text", "À quel âge un premier téléphone ?")
    other.click("#ask-form button[type=submit]")
    target = moderator.locator("#pending-questions .question",
                               has_text="À quel âge un premier téléphone")
    target.wait_for()
    target.locator("[data-action=approve]").click()
    target.wait_for(state="detached")
    parent.fill("#question-text", "Quel âge pour le premier téléphone ?")
    parent.click("#ask-form button[type=submit]")
    duplicate = moderator.locator("#pending-questions .question",
                                  has_text="Quel âge pour le premier")
    duplicate.wait_for()
    duplicate.locator("[data-action=merge]").click()
    moderator.click("#prompt-dialog button[value=ok]")
    told = parent.locator("#my-questions .question", has_text="Quel âge pour le premier")
    told.filter(has_text="regroupée").wait_for(timeout=8_000)
    assert "À quel âge un premier téléphone" in told.inner_text()


def test_remove_and_ban_read_the_same_in_the_room_and_the_log(
        room: Room, server: Server, cafe: Cafe, audience_browser: Browser) -> None:
    expert = room.open(audience_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie")
    paul = room.open(audience_browser, cafe.page, "Paul")
    room.open(audience_browser, cafe.page, "Jeanne")
    moderator.click("#tab-people")
    labels = {}
    for name, index in (("Paul", 0), ("Jeanne", 1)):
        row = moderator.locator("#presence li", has_text=name)
        row.wait_for()
        action = row.locator(".actions button").nth(index)
        labels[name] = action.inner_text().strip()
        moderator.once("dialog", lambda dialog: dialog.accept())
        action.click()
        row.wait_for(state="detached")
    assert labels == {"Paul": "Retirer", "Jeanne": "Bannir"}
    paul.wait_for_selector("#ended-panel:not([hidden])")
    assert "retiré" in paul.inner_text("#ended-panel")

    server.create_organiser("orga@example.org", "Organisatrice", "un mot de passe assez long")
    page = moderator.context.new_page()
    page.goto(server.base_url + "/login")
    page.fill("#email", "orga@example.org")
    page.fill("#password", "un mot de passe assez long")
    page.click("form[action='/login'] button[type=submit]")
    page.goto(f"{server.base_url}/admin/cafes/{cafe.slug}")
    log = page.locator("#audit-log")
    removed = log.locator("tr, li", has_text="Paul").first.inner_text()
    banned = log.locator("tr, li", has_text="Jeanne").first.inner_text()
    assert "retiré" in removed and "exclu" not in removed, removed
    assert "banni" in banned and "exclu" not in banned, banned
    # The log reads as sentences, with the time to the second.
    assert re.match(r"\d\d:\d\d:\d\d\s+Sophie \(modérateur·rice\) a retiré Paul du café",
                    removed), removed

    # Revoking is a quiet link beside the copy button, not a second loud button.
    revoke = page.locator("#invitations form[action$='/revoke'] button").first
    copy = page.locator("#invitations .copy-button").first
    assert revoke.evaluate("(n) => getComputedStyle(n).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert copy.evaluate("(n) => getComputedStyle(n).backgroundColor") != "rgba(0, 0, 0, 0)"

    # A new café: a confirmation with the parents' link to copy, beside the staff's links.
    page.goto(server.base_url + "/admin/cafes/new")
    page.fill("#title", "Premier téléphone : à quel âge ?")
    page.select_option("#theme", "screens")
    page.fill("#starts_at", "2027-03-04T20:00")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("#created-title, p.error", timeout=10_000)
    assert page.locator("p.error").count() == 0, page.inner_text("p.error")
    link = page.input_value("#parents-link")
    assert link.endswith("/cafes/" + page.url.split("/admin/cafes/")[1].split("?")[0])
    assert page.locator("#invitations li").count() >= 3  # parents, expert, moderator
