"""Phone first (issue 13): on a 390 x 844 screen the parent sees the expert's video, the
captions under it and the action bar at the bottom without scrolling, with a clear live
badge and how many are here; at 360 px no page scrolls sideways."""

from __future__ import annotations

import time

import pytest
from e2e_harness import Cafe, Server
from e2e_pages import Room, go_live, open_cafe, wait_for_media
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

BOX = "(selector) => { const r = document.querySelector(selector).getBoundingClientRect(); " \
      "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; }"


def box(page: Page, selector: str) -> dict[str, float]:
    return dict(page.evaluate(BOX, selector))


def test_parent_room_on_a_phone(room: Room, cafe: Cafe, expert_browser: Browser,
                                audience_browser: Browser) -> None:
    expert = room.open(expert_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    go_live(expert)
    parent = room.open(audience_browser, cafe.page, "Marie", width=390)
    parent.set_viewport_size({"width": 390, "height": 844})
    parent.evaluate("() => window.scrollTo(0, 0)")
    wait_for_media(parent)

    video, captions, bar = box(parent, "#player"), box(parent, ".captions-box"), box(
        parent, "#action-bar")
    assert video["top"] >= 0 and video["height"] > 150, video
    assert bar["bottom"] == pytest.approx(844, abs=1), bar
    assert video["bottom"] <= captions["top"] and captions["bottom"] <= bar["top"], (
        video, captions, bar)
    for control in ("#bar-ask", "#raise-hand", "#leave-cafe"):
        assert parent.is_visible(control), control
    assert "micro" in parent.inner_text("#raise-hand")
    assert parent.inner_text("#live-badge").strip() == "EN DIRECT"
    assert parent.is_visible("#live-badge")
    assert "2 personnes présentes" in parent.inner_text("#present-count")

    # The bar's "ask" opens the question form; "leave" leaves for good.
    parent.click("#bar-ask")
    assert parent.evaluate("() => document.activeElement.id") == "question-text"
    parent.click("#leave-cafe")
    parent.wait_for_selector("#ended-panel:not([hidden])")
    expert.locator("#presence li", has_text="Marie").wait_for(state="detached")


def overflow(page: Page) -> list[str]:
    """Elements wider than the screen (what makes a page scroll sideways), once the page
    has settled (fonts, the first presence list)."""
    deadline = time.monotonic() + 3
    while (found := _overflow(page)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _overflow(page: Page) -> list[str]:
    return list(page.evaluate("""() => {
      const width = document.documentElement.clientWidth;
      if (document.documentElement.scrollWidth <= width) return [];
      const clipped = (n) => {
        for (let a = n.parentElement; a && a !== document.body; a = a.parentElement) {
          if (getComputedStyle(a).overflowX !== 'visible') return true;
        }
        return false;
      };
      const wide = [...document.querySelectorAll('body *')]
        .filter((n) => n.getBoundingClientRect().right > width + 1 && !clipped(n))
        .slice(0, 8).map((n) => n.tagName + '#' + n.id + '.' + n.className);
      return [document.documentElement.scrollWidth + ' > ' + width, ...wide];
    }"""))


def test_no_page_scrolls_sideways_at_360(room: Room, server: Server, cafe: Cafe,
                                         audience_browser: Browser) -> None:
    expert = room.open(audience_browser, cafe.expert, "Dr Martin", width=360)
    open_cafe(expert)
    moderator = room.open(audience_browser, cafe.moderator, "Sophie", width=360)
    parent = room.open(audience_browser, cafe.page, "Marie-Bérénice-Charlotte-Dupontel", width=360)
    pages = {"expert": expert, "moderator": moderator, "parent": parent}
    for name, page in pages.items():
        assert overflow(page) == [], name
    visitor = parent.context.new_page()
    server.create_organiser("phone@example.org", "Organisatrice", "un mot de passe assez long")
    visitor.goto(server.base_url + "/login")
    visitor.fill("#email", "phone@example.org")
    visitor.fill("#password", "un mot de passe assez long")
    visitor.click("form[action='/login'] button[type=submit]")
    for path in ("/", f"/cafes/{cafe.slug}", "/search", "/search?q=écrans", "/login",
                 "/admin", "/admin/cafes/new", f"/admin/cafes/{cafe.slug}", "/cafes/nope"):
        visitor.goto(server.base_url + path)
        assert overflow(visitor) == [], path
