"""Accessibility (issue 13): axe-core (npm, node_modules/axe-core) finds no serious or
critical violation on the portal, a café page, the room as a parent, an expert and a
moderator see it, the search page and a transcript page; every control of the parent's
room is reached with Tab and works with the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_harness import REPO, Cafe, Server
from e2e_pages import Room, end_cafe, open_cafe, wait_for_js
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"

# Evaluated through the DevTools protocol, which the pages' CSP (script-src 'self') allows.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} -> ` +
         v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '));
}"""


def serious_violations(page: Page) -> list[str]:
    if not AXE.is_file():
        pytest.fail("node_modules/axe-core is missing: run `npm ci`")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(Path(AXE).read_text())
    return list(page.evaluate(RUN_AXE))


def login(page: Page, server: Server, email: str) -> None:
    server.create_organiser(email, "Organisatrice", "un mot de passe assez long")
    page.goto(server.base_url + "/login")
    page.fill("#email", email)
    page.fill("#password", "un mot de passe assez long")
    page.click("form[action='/login'] button[type=submit]")


def test_no_serious_violation_on_any_page(room: Room, server: Server, cafe: Cafe,
                                          audience_browser: Browser) -> None:
    found: dict[str, list[str]] = {}
    visitor = audience_browser.new_context(locale="fr-FR").new_page()
    room.contexts.append(visitor.context)
    for name, path in (("portal", "/"), ("café", f"/cafes/{cafe.slug}"),
                       ("search", "/search?q=écrans")):
        visitor.goto(server.base_url + path)
        found[name] = serious_violations(visitor)

    expert = room.open(audience_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie")
    parent = room.open(audience_browser, cafe.page, "Marie", width=390)
    parent.fill("#question-text", "Comment parler des écrans ?")
    parent.click("#ask-form button[type=submit]")
    moderator.locator("#pending-questions .question").first.wait_for()
    for name, page in (("room: expert", expert), ("room: moderator", moderator),
                       ("room: parent", parent)):
        found[name] = serious_violations(page)

    # The transcript page of an ended café, published by its organiser.
    end_cafe(expert)
    expert.wait_for_selector("#ended-panel:not([hidden])")
    login(visitor, server, "a11y@example.org")
    visitor.goto(f"{server.base_url}/admin/cafes/{cafe.slug}")
    found["admin: café"] = serious_violations(visitor)
    visitor.click("#transcript button[type=submit]")
    visitor.goto(f"{server.base_url}/cafes/{cafe.slug}/transcript")
    found["transcript"] = serious_violations(visitor)
    assert {name: v for name, v in found.items() if v} == {}


def test_the_parents_room_works_from_the_keyboard(room: Room, cafe: Cafe,
                                                  audience_browser: Browser) -> None:
    expert = room.open(audience_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    parent = room.open(audience_browser, cafe.page, "Marie")
    parent.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached: set[str] = set()
    for _ in range(60):
        parent.keyboard.press("Tab")
        reached.add(str(parent.evaluate("() => document.activeElement.id || ''")))
    wanted = {"captions-toggle", "captions-smaller", "captions-larger", "bar-ask", "raise-hand",
              "leave-cafe", "tab-questions", "question-text", "question-anonymous"}
    assert wanted <= reached, wanted - reached
    # Usable: the tabs move with the arrows, the hand goes up with Enter.
    parent.focus("#tab-questions")
    parent.keyboard.press("ArrowRight")
    assert parent.evaluate("() => document.activeElement.id") == "tab-chat"
    assert parent.is_visible("#chat-text")
    parent.keyboard.press("ArrowLeft")
    assert parent.is_visible("#question-text")
    parent.focus("#raise-hand")
    parent.keyboard.press("Enter")
    parent.wait_for_selector('#raise-hand[aria-pressed="true"]')
    parent.focus("#question-text")
    parent.keyboard.type("Une question au clavier ?")
    parent.keyboard.press("Tab")
    parent.keyboard.press("Tab")
    parent.keyboard.press("Enter")
    wait_for_js(parent, """() => [...document.querySelectorAll('#my-questions .text')]
      .some((n) => n.textContent === 'Une question au clavier ?')""")
