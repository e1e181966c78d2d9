"""Safeguarding in Chromium (issue 11): a parent reports a chat message, the moderator sees
the report arrive (the tab's count), hides the message from the report, and the organiser's
moderation log shows both; a question holding a phone number waits, marked, in the
moderator's queue and never reaches the audience."""

from __future__ import annotations

import pytest
from e2e_harness import Cafe, Server
from e2e_pages import Room, open_cafe, wait_for_js
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

PASSWORD = "un mot de passe assez long"


def _organiser(room: Room, server: Server, browser: Browser) -> Page:
    server.create_organiser("garde@example.org", "Organisatrice", PASSWORD)
    page = browser.new_context(locale="fr-FR").new_page()
    room.contexts.append(page.context)
    page.goto(server.base_url + "/login")
    page.fill("#email", "garde@example.org")
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/admin")
    return page


def test_report_a_message_then_hide_it_and_hold_a_phone_number(
        room: Room, server: Server, cafe: Cafe, audience_browser: Browser) -> None:
    moderator = room.open(audience_browser, cafe.moderator, "Sophie")
    open_cafe(moderator)
    marie = room.open(audience_browser, cafe.page, "Marie")
    troll = room.open(audience_browser, cafe.page, "Troll")

    troll.click("#tab-chat")
    troll.fill("#chat-text", "t'es vraiment nulle")
    troll.click("#chat-form button[type=submit]")
    marie.click("#tab-chat")
    message = marie.locator("#chat-messages li", has_text="t'es vraiment nulle")
    message.wait_for()
    assert troll.locator("#chat-messages li [data-action=report]").count() == 0  # not one's own

    # The parent reports it: a reason from the list, then an optional note.
    message.locator("[data-action=report]").click()
    marie.locator("#prompt-select").select_option("harassment")
    marie.click("#prompt-dialog button[value=ok]")
    marie.fill("#prompt-input", "Elle insiste depuis le début")
    marie.click("#prompt-dialog button[value=ok]")
    marie.locator("#room-notice", has_text="envoyé aux seuls modérateurs").wait_for()

    # The moderator's tab counts it, live.
    moderator.locator('[data-badge="reports"]', has_text="1").wait_for()
    moderator.click("#tab-reports")
    report = moderator.locator("#reports li", has_text="Troll")
    report.wait_for()
    assert "t'es vraiment nulle" in report.inner_text()
    assert "Harcèlement" in report.inner_text() and "Elle insiste" in report.inner_text()
    # Nobody else hears of it: the reported parent has no reports tab, nor any report.
    assert troll.is_hidden("#tab-reports") and marie.is_hidden("#tab-reports")
    assert troll.locator("#reports li").count() == 0

    report.locator("[data-resolution=hide]").click()
    for page in (marie, troll):
        wait_for_js(page, """() => ![...document.querySelectorAll('#chat-messages li')]
          .some((li) => li.textContent.includes("t'es vraiment nulle"))""")
    wait_for_js(moderator, """() => document.querySelectorAll('#reports li').length === 0
      && document.querySelector('[data-badge="reports"]').textContent === ''""")

    # A question with a phone number is held: marked in the moderator's queue, and the
    # audience never sees it.
    marie.click("#tab-questions")
    marie.fill("#question-text", "Mon fils est harcelé, appelez-moi au 06 12 34 56 78")
    marie.click("#ask-form button[type=submit]")
    moderator.click("#tab-moderation")
    held = moderator.locator("#pending-questions .question", has_text="06 12 34 56 78")
    held.wait_for()
    assert "Retenu par les mots surveillés" in held.locator(".watch").inner_text()
    assert "numéro de téléphone" in held.locator(".watch").inner_text()
    troll.click("#tab-questions")
    troll.wait_for_timeout(500)
    assert "06 12 34 56 78" not in troll.inner_text("#room")

    # The organiser's log has the resolution and the hidden message.
    organiser = _organiser(room, server, audience_browser)
    organiser.goto(f"{server.base_url}/admin/cafes/{cafe.slug}")
    log = organiser.locator("#audit-log").inner_text()
    assert "a traité un signalement visant Troll" in log and "masqué" in log, log
    assert "a masqué un message de Troll" in log, log
    safeguarding = organiser.locator("#safeguarding").inner_text()
    assert "0 signalement attend un modérateur" in safeguarding, safeguarding


def test_a_flagged_pseudonym_is_marked_in_the_moderators_list_only(
        room: Room, server: Server, cafe: Cafe, audience_browser: Browser) -> None:
    """The organiser adds a *flag* word to the café's list on its page; a parent whose
    pseudonym holds it gets in, and the moderator's list of people marks them with the
    word, live; neither that parent nor another one sees the mark."""
    server.create_organiser("mots@example.org", "Organisatrice", PASSWORD)
    organiser = audience_browser.new_context(locale="fr-FR").new_page()
    room.contexts.append(organiser.context)
    organiser.goto(server.base_url + "/login")
    organiser.fill("#email", "mots@example.org")
    organiser.fill("#password", PASSWORD)
    organiser.click("form[action='/login'] button[type=submit]")
    organiser.wait_for_url("**/admin")
    organiser.goto(f"{server.base_url}/admin/cafes/{cafe.slug}/watched-words")
    organiser.fill("#watch-body", "nounours | flag")
    organiser.click("form:has(#watch-body) button[type=submit]")
    organiser.locator("text=Enregistré").first.wait_for()

    moderator = room.open(audience_browser, cafe.moderator, "Sophie")
    open_cafe(moderator)
    paul = room.open(audience_browser, cafe.page, "Paul")
    flagged = room.open(audience_browser, cafe.page, "Gros Nounours")
    moderator.click("#tab-people")
    person = moderator.locator("#presence li", has_text="Gros Nounours")
    person.locator(".watch-pseudonym").wait_for()
    assert person.locator(".watch-pseudonym").inner_text() == (
        "Pseudonyme marqué par les mots surveillés\u202f: nounours")
    assert moderator.locator("#presence li", has_text="Paul").locator(".watch").count() == 0
    for page in (paul, flagged):
        page.click("#tab-people")
        page.locator("#presence li", has_text="Gros Nounours").wait_for()
        assert page.locator("#presence .watch").count() == 0
        assert "mots surveillés" not in page.inner_text("#room")
