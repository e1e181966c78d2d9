"""HTML and script typed by a parent (pseudonym, question, chat) shows as text on every page
that displays it, and never runs."""

from __future__ import annotations

import pytest
from e2e_harness import Cafe
from e2e_pages import Room, open_cafe
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

NAME = "<img src=x onerror=window.pwned=1>"
QUESTION = "<script>window.pwned=2</script><b>gras</b> & écrans ?"
CHAT = "<svg onload=window.pwned=3>coucou</svg>"


def never_ran(page: Page) -> None:
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("b:text-is('gras')").count() == 0
    assert page.locator("img[src=x], svg[onload]").count() == 0


def test_hostile_text_is_shown_as_text(room: Room, cafe: Cafe, expert_browser: Browser,
                                       audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie")
    parent = room.open(audience_browser, cafe.page, NAME)
    other = room.open(audience_browser, cafe.page, "Paul")

    parent.fill("#question-text", QUESTION)
    parent.click("#ask-form button[type=submit]")
    pending = moderator.locator(f"#pending-questions .question:has(.text:text-is({QUESTION!r}))")
    pending.wait_for()
    assert NAME in pending.inner_text()
    moderator.locator("#pending-questions").focus()
    moderator.keyboard.press("a")
    other.locator(f"#approved-questions .text:text-is({QUESTION!r})").wait_for()

    parent.click("#tab-chat")
    parent.fill("#chat-text", CHAT)
    parent.click("#chat-form button[type=submit]")
    other.click("#tab-chat")
    other.locator("#chat-messages").get_by_text(CHAT, exact=False).wait_for()
    other.click("#tab-people")
    other.locator("#panel-people").get_by_text(NAME, exact=False).first.wait_for()

    for page in (expert, moderator, parent, other):
        never_ran(page)
