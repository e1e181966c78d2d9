"""Questions from a parent's page to the expert's, through a moderator's console: every step
shows on the parent's page. Then the café ends for everyone."""

from __future__ import annotations

import pytest
from e2e_harness import Cafe
from e2e_pages import Room, end_cafe, open_cafe
from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

QUESTION = "Comment parler des écrans avec mon fils de 12 ans ?"
OFF_TOPIC = "Quel est votre film préféré ?"


def question(list_id: str, text: str) -> str:
    return f"#{list_id} .question:has(.text:text-is({text!r}))"


def test_ask_approve_answer_reject_and_end(room: Room, cafe: Cafe, expert_browser: Browser,
                                           audience_browser: Browser) -> None:
    # Paul comes early: the page waits, and lets him in by itself when the café opens.
    other = room.open(audience_browser, cafe.page, "Paul")
    other.wait_for_selector("#not-live-notice:not([hidden])")
    assert other.get_attribute("body", "data-role") is None
    expert = room.open(expert_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    other.wait_for_selector('body[data-role="participant"]', timeout=10_000)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie")
    assert moderator.get_attribute("body", "data-role") == "moderator"
    parent = room.open(audience_browser, cafe.page, "Marie", width=390)

    # The parent asks, hiding her name from the audience: it waits for a moderator.
    parent.fill("#question-text", QUESTION)
    parent.check("#question-anonymous")
    parent.click("#ask-form button[type=submit]")
    mine = parent.locator(question("my-questions", QUESTION))
    mine.wait_for()
    assert "Marie" in mine.inner_text()

    # The moderator sees it with its author, and approves it with the A key.
    pending = moderator.locator(question("pending-questions", QUESTION))
    pending.wait_for()
    assert "Marie" in pending.inner_text()
    moderator.locator("#pending-questions").focus()
    moderator.keyboard.press("a")

    # Approved: in the public list for everyone, anonymous for the others.
    parent.locator(question("approved-questions", QUESTION)).wait_for()
    public = other.locator(question("approved-questions", QUESTION))
    public.wait_for()
    assert "Marie" not in public.inner_text()
    assert parent.locator(question("my-questions", QUESTION)).count() == 0

    # Paul votes; the count changes on Marie's page.
    public.locator("button.vote").click()
    parent.locator(question("approved-questions", QUESTION)).locator(
        ".votes").filter(has_text="1").wait_for()

    # The expert answers it now: the parent sees it under "answering now".
    expert.locator(question("approved-questions", QUESTION)).locator(
        "[data-action=answering]").click()
    parent.locator(f"#answering .text:text-is({QUESTION!r})").wait_for()
    parent.wait_for_selector("#answering-box:not([hidden])")

    # A second question is rejected with a reason, which only its author sees.
    parent.fill("#question-text", OFF_TOPIC)
    parent.uncheck("#question-anonymous")
    parent.click("#ask-form button[type=submit]")
    moderator.locator(question("pending-questions", OFF_TOPIC)).wait_for()
    moderator.locator(question("pending-questions", OFF_TOPIC)).click()
    moderator.keyboard.press("r")
    moderator.fill("#prompt-input", "Hors sujet pour ce café.")
    moderator.click("#prompt-dialog button[value=ok]")
    rejected = parent.locator(question("my-questions", OFF_TOPIC))
    rejected.locator(".reason").filter(has_text="Hors sujet pour ce café.").wait_for()
    assert other.locator(f".question .text:text-is({OFF_TOPIC!r})").count() == 0

    # The expert marks the first one answered, then ends the café: everyone is told.
    expert.locator("#answering [data-action=answered]").click()
    parent.locator(question("answered-questions", QUESTION)).wait_for(state="attached")
    end_cafe(expert)
    for page in (parent, other, moderator, expert):
        page.wait_for_selector("#ended-panel:not([hidden])")
        assert page.is_hidden("#room")
