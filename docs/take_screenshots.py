"""Take the screenshots in docs/screenshots: the portal, a café page, the room as a parent,
the expert and the moderator see it, then, once the café has ended and its transcript is
made, the organiser's list of cafés, the café's admin page, the review page, the published
transcript and a search; each 390 px (a phone) and 1280 px wide.

Runs a real server and real Chromium pages (the e2e harness: a private network namespace
when root), fills a café with an expert on camera (a spoken French WAV as the microphone), a
moderator, parents, questions, votes, chat and a raised hand, then shoots. Before each shot
the page is also laid out at 360 px (the narrowest phone we support): a page wider than the
screen is reported and the script exits 1. Usage: `.venv/bin/python docs/take_screenshots.py`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

from e2e_harness import CHROMIUM_FLAGS, Namespace, Server, speech_wav  # noqa: E402
from e2e_pages import (  # noqa: E402
    Room,
    end_cafe,
    go_live,
    log_in,
    open_cafe,
    wait_for_js,
    wait_for_media,
)
from playwright.sync_api import Page, sync_playwright  # noqa: E402

OUT = HERE / "screenshots"
WIDTHS = (390, 1280)
NARROWEST = 360
ORGANISER = ("organisatrice@example.org", "Camille (organisatrice)", "un mot de passe assez long")
SPEECH = (
    "Bonsoir à toutes et à tous. Ce soir, nous parlons des écrans et des jeux vidéo en ligne. "
    "Les jeux vidéo en ligne permettent de discuter avec des inconnus. "
    "Parlez-en en famille, sans dramatiser, et gardez le téléphone hors de la chambre la nuit."
)
OVERFLOWING: list[str] = []  # pages wider than NARROWEST px

QUESTIONS = (
    ("Marie", "À quel âge lui donner un premier téléphone ?", False),
    ("Marie", "Mon fils de 12 ans joue en ligne le soir avec des inconnus, comment en parler "
              "sans tout interdire ?", True),
    ("Paul", "Faut-il contrôler les messages de ma fille sur les réseaux sociaux ?", False),
    ("Paul", "Quel est votre film préféré ?", False),
)


def fits(page: Page, name: str) -> None:
    """Lay the page out at 360 px: nothing may stick out sideways (a phone would scroll)."""
    page.set_viewport_size({"width": NARROWEST, "height": 800})
    time.sleep(0.3)
    wide = page.evaluate("""() => {
      const doc = document.documentElement;
      if (doc.scrollWidth <= window.innerWidth) return [];
      return [...document.querySelectorAll('body *')].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.right > window.innerWidth + 1;
      }).slice(0, 5).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                                + (e.className ? '.' + String(e.className).split(' ')[0] : ''));
    }""")
    if wide:
        OVERFLOWING.append(f"{name}: {', '.join(wide)}")


def shoot(page: Page, name: str) -> None:
    fits(page, name)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
        time.sleep(0.4)  # layout and video frame settle
        path = OUT / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        print(path.relative_to(HERE.parent))


def ask(page: Page, text: str, anonymous: bool) -> None:
    page.fill("#question-text", text)
    page.set_checked("#question-anonymous", anonymous)
    page.click("#ask-form button[type=submit]")
    page.locator("#my-questions .text", has_text=text[:30]).wait_for()


def main() -> int:
    OUT.mkdir(exist_ok=True)
    namespace = Namespace()
    namespace.start()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(namespace, Path(tmp) / "data")
        server.upgrade()
        server.start()
        try:
            cafe = server.create_cafe("Écrans et jeux vidéo : poser des limites sans conflit")
            speech = speech_wav(Path(tmp), SPEECH)
            server.create_organiser(*ORGANISER)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=namespace.chromium_executable(Path(tmp)), headless=True,
                    args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={speech}"])
                room = Room(server)
                visitor = browser.new_context(locale="fr-FR").new_page()
                visitor.goto(server.base_url + "/")
                shoot(visitor, "portal")

                expert = room.open(browser, cafe.expert, "Dr Claire Martin", raw_audio=True)
                open_cafe(expert)
                go_live(expert)
                moderator = room.open(browser, cafe.moderator, "Sophie (modératrice)")
                parents = {name: room.open(browser, cafe.page, name) for name in ("Marie", "Paul")}
                visitor.goto(cafe.page)
                shoot(visitor, "cafe")

                for author, text, anonymous in QUESTIONS:
                    ask(parents[author], text, anonymous)
                pending = moderator.locator("#pending-questions .question")
                pending.first.wait_for()
                for _ in range(3):  # approve the first three, oldest first
                    moderator.locator("#pending-questions").focus()
                    count = pending.count()
                    moderator.keyboard.press("a")
                    deadline = time.monotonic() + 5
                    while pending.count() == count and time.monotonic() < deadline:
                        time.sleep(0.1)
                paul = parents["Paul"]
                paul.locator("#approved-questions .question", has_text="téléphone").locator(
                    "button.vote").click()
                expert.locator("#approved-questions .question", has_text="inconnus").locator(
                    "[data-action=answering]").click()
                for name, text in (("Marie", "Merci pour ce café !"),
                                   ("Paul", "Bonsoir à tous, on vous entend bien.")):
                    page = parents[name]
                    page.click("#tab-chat")
                    page.fill("#chat-text", text)
                    page.click("#chat-form button[type=submit]")
                paul.click("#tab-questions")
                marie = parents["Marie"]
                marie.click("#tab-questions")
                marie.click("#raise-hand")
                wait_for_media(marie)
                # Live captions (Whisper) are off in this run: show one sample line through
                # the same function the `captions` event calls.
                marie.evaluate("(caption) => window.causerie.room.captions.show(caption)", {
                    "speaker": "Dr Claire Martin",
                    "id": "1",
                    "text": "Les jeux vidéo en ligne permettent de discuter\u00a0: "
                            "parlez-en en famille",
                })
                marie.locator("#answering .text").wait_for()
                shoot(marie, "room")
                moderator.locator("#hands li").first.wait_for()
                shoot(moderator, "moderator")
                shoot(expert, "expert")

                # After the café: the organiser's pages, the review, the transcript, search.
                end_cafe(expert)
                wait_for_js(expert, "() => document.getElementById('end-cafe').hidden", 15)
                organiser = browser.new_context(locale="fr-FR").new_page()
                email, _, password = ORGANISER
                log_in(organiser, server.base_url, email, password, "/admin")
                shoot(organiser, "admin")
                deadline = time.monotonic() + 300
                while server.query("SELECT count(*) FROM transcript_jobs j JOIN cafes c ON"
                                   " c.id = j.cafe_id WHERE c.slug = ? AND j.status != 'done'",
                                   cafe.slug)[0][0]:
                    if time.monotonic() > deadline:
                        raise SystemExit("the transcript was not made in 5 minutes")
                    time.sleep(1)
                organiser.goto(f"{server.base_url}/admin/cafes/{cafe.slug}")
                shoot(organiser, "cafe-admin")
                organiser.goto(f"{server.base_url}/cafes/{cafe.slug}/review")
                organiser.locator("li.segment").first.wait_for()
                shoot(organiser, "review")
                organiser.goto(f"{server.base_url}/admin/cafes/{cafe.slug}")
                organiser.click("#transcript button[type=submit]")
                anyway = "#transcript input[name=confirm] ~ button[type=submit]"
                link = f'#transcript a[href="/cafes/{cafe.slug}/transcript"]'
                organiser.wait_for_selector(f"{link}, {anyway}")
                if organiser.locator(anyway).count():
                    organiser.click(anyway)
                organiser.wait_for_selector(link)
                visitor.goto(f"{server.base_url}/cafes/{cafe.slug}/transcript")
                shoot(visitor, "transcript")
                visitor.goto(f"{server.base_url}/search?q=jeux+vid%C3%A9o")
                shoot(visitor, "search")
                room.close()
                browser.close()
        finally:
            server.stop()
            namespace.stop()
    if OVERFLOWING:
        print("wider than 360 px:\n  " + "\n  ".join(OVERFLOWING), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
