"""A café from the microphone to the searchable transcript, in Chromium against a real
`causerie serve` with live captions on and the real Whisper model.

The expert's microphone is a WAV of known French sentences (espeak-ng) with known onsets; a
parent sees live captions of them; the expert ends the café; an organiser publishes the
transcript on the admin page; `/api/search` then finds the words at the café time where
they were spoken (within 2 s), the search page highlights them, and the hit's link opens the
transcript page playing from that moment with the matching segment highlighted.

Café time of a sentence: see e2e_speech.py.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_harness import REPO, Cafe, Namespace, Server
from e2e_pages import (
    Room,
    end_cafe,
    fetch_text,
    go_live,
    log_in,
    open_cafe,
    room_telling_on_failure,
    search_hits,
    wait_for_js,
)
from e2e_speech import MIC_HOOK, Speech, sentences_wav, speaking_chromium
from playwright.sync_api import Browser, Page, Playwright

# 35-65 s here: server start with a caption model, 18 s of speech, the final transcript.
pytestmark = [pytest.mark.e2e, pytest.mark.whisper, pytest.mark.timeout(240)]

PAUSE = 2.5  # s between sentences: separate captions and separate transcript segments
# (sentence, the word the test searches for in it)
SENTENCES = (
    ("Bonsoir à toutes et à tous, bienvenue au café des parents.", ""),
    ("Les jeux vidéo en ligne permettent de discuter.", "vidéo"),
    ("Le téléphone reste hors de la chambre.", "téléphone"),
)
# Live captions run on short windows of robotic speech: any of these words will do.
CAPTION_WORDS = ("jeux", "vidéo", "téléphone", "chambre", "parents", "ligne", "internet",
                 "bonsoir", "café")
SEARCHED = "téléphone"
TOLERANCE = 2.0  # s between where a sentence was spoken and its hit's start
ORGANISER = ("orga@example.org", "Organisatrice", "mot-de-passe-de-test-42")

class CaptioningServer(Server):
    """The harness's server with live captions on (the shared model from the environment)."""

    @property
    def env(self) -> dict[str, str]:
        return super().env | {"CAUSERIE_WHISPER__LIVE_CAPTIONS": "true"}


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return sentences_wav(tmp_path_factory.mktemp("transcript-speech"),
                         [text for text, _ in SENTENCES], pause=PAUSE)


@pytest.fixture(scope="module")
def captioning_server(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory,
                      ) -> Iterator[CaptioningServer]:
    if not (REPO / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("node_modules/socket.io-client is missing: run `npm ci`")
    srv = CaptioningServer(namespace, tmp_path_factory.mktemp("e2e-transcript-data"))
    srv.upgrade()
    srv.start()
    srv.create_organiser(*ORGANISER)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def speaking_browser(playwright: Playwright, namespace: Namespace, speech: Speech,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with speaking_chromium(playwright, namespace, tmp_path_factory.mktemp("chromium-speaker"),
                           speech) as browser:
        yield browser


@pytest.fixture()
def transcript_room(captioning_server: CaptioningServer, request: pytest.FixtureRequest,
                    ) -> Iterator[Room]:
    with room_telling_on_failure(captioning_server, request, log_lines=120) as opened:
        yield opened


def _get_json(page: Page, url: str) -> Any:
    return json.loads(fetch_text(page, url))


def _publish_on_admin_page(browser: Browser, base_url: str, slug: str) -> None:
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        email, _, password = ORGANISER
        log_in(page, base_url, email, password, f"/admin/cafes/{slug}")
        page.click("#transcript button[type=submit]")
        # Right after the end the parts are not transcribed yet: the page asks the organiser
        # to confirm publishing over that warning, and the organiser does.
        link = f'#transcript a[href="/cafes/{slug}/transcript"]'
        anyway = '#transcript input[name=confirm] ~ button[type=submit]'
        page.wait_for_selector(f"{link}, {anyway}")
        if page.locator(anyway).count():
            page.click(anyway)
        page.wait_for_selector(link)
    finally:
        context.close()


def test_spoken_words_are_captioned_then_found_and_played_at_their_moment(
        transcript_room: Room, captioning_server: CaptioningServer, speaking_browser: Browser,
        audience_browser: Browser, speech: Speech) -> None:
    began = time.monotonic()
    server = captioning_server
    cafe: Cafe = server.create_cafe("Les écrans à la maison")

    # The expert, with the microphone untouched by echo cancellation and gain control.
    expert = transcript_room.open(speaking_browser, cafe.expert, "Dr Martin", raw_audio=True)
    expert.context.add_init_script(MIC_HOOK)
    expert.reload()
    expert.wait_for_selector('#connection-state[data-state="connected"]')

    open_cafe(expert)
    parent = transcript_room.open(audience_browser, cafe.page, "Marie")
    go_live(expert)
    # Camera off (black frames at a low rate): encoding and decoding 720p video costs CPU
    # the speech needs on a small, busy machine (starved, the recording gets holes).
    expert.click("#toggle-camera")
    mic_started = float(expert.evaluate("window.__micStartedAt")) / 1000
    cafe_seconds_at_mic = mic_started - server.opened_at(cafe.slug).timestamp()
    assert 0 <= cafe_seconds_at_mic < 30
    spoken = {word: cafe_seconds_at_mic + onset
              for (_, word), onset in zip(SENTENCES, speech.onsets, strict=True) if word}

    # Live captions reach the parent while the expert speaks.
    words = json.dumps(CAPTION_WORDS)
    wait_for_js(parent, "() => { const t = document.getElementById('captions').textContent"
                        f".toLowerCase(); return {words}.some((w) => t.includes(w)); }}",
                timeout=speech.duration + 15)
    captions = parent.inner_text("#captions")
    assert parent.locator("#captions p").count() >= 1

    # Let the file play to its end, then end the café.
    remaining = mic_started + speech.duration + 0.5 - time.time()
    if remaining > 0:
        time.sleep(remaining)
    end_cafe(expert)
    wait_for_js(expert, "() => document.getElementById('end-cafe').hidden === true", 15)

    _publish_on_admin_page(audience_browser, server.base_url, cafe.slug)

    # The final transcript is made in the background (its segments come all at once).
    deadline = time.monotonic() + 45
    while not (segments := _get_json(parent, f"/cafes/{cafe.slug}/transcript.json")["segments"]):
        assert time.monotonic() < deadline, f"no transcript yet:\n{server.log_tail(40)}"
        time.sleep(0.5)
    said = [(round(s["start"], 2), s["text"]) for s in segments]
    print(f"live captions: {captions!r}\ntranscript: {said}\nspoken at: {spoken}")
    hits = search_hits(parent, SEARCHED, cafe.slug)
    assert hits, said
    hit = hits[0]
    assert hit["cafe"]["slug"] == cafe.slug and hit["speaker"] == "Dr Martin"
    # A hit starts where its first matching word is spoken (Whisper's word timings).
    assert abs(hit["start"] - spoken[SEARCHED]) <= TOLERANCE, (hit, spoken)
    # The other sentence too, by whichever of its words Whisper got right this time.
    other = next((h[0] for w in ("vidéo", "jeux", "ligne", "discuter")
                  if (h := search_hits(parent, w, cafe.slug))), None)
    assert other is not None, said
    assert abs(other["start"] - spoken["vidéo"]) <= TOLERANCE, (other, spoken)

    # The search page shows the hit, the word highlighted.
    page = parent.context.new_page()
    page.goto(f"{server.base_url}/search?{urllib.parse.urlencode({'q': SEARCHED})}")
    link = page.locator(f'a.hit-link[href="{hit["url"]}"]')
    assert link.count() == 1
    marked = page.locator(".hit-snippet mark").all_inner_texts()
    assert any(m.lower().replace("é", "e") == "telephone" for m in marked), marked

    # Its link opens the transcript playing from that moment, the segment highlighted.
    link.click()
    page.wait_for_url(f"**/cafes/{cafe.slug}/transcript#t=*")
    segment = page.locator(f"#s{hit['segment_id']}")
    segment.wait_for(state="attached")
    wait_for_js(page, f"() => document.getElementById('s{hit['segment_id']}')"
                      ".classList.contains('current')")
    offset = float(page.get_attribute("#player", "data-offset") or 0)
    wait_for_js(page, "() => { const p = document.getElementById('player');"
                      " return !p.paused && p.currentTime > 0; }", timeout=10)
    first = float(page.evaluate("document.getElementById('player').currentTime")) + offset
    assert hit["start"] - 0.5 <= first <= hit["start"] + 1.5, (first, hit["start"])
    time.sleep(1.0)
    later = float(page.evaluate("document.getElementById('player').currentTime")) + offset
    assert later > first + 0.5, (first, later)
    assert "current" in (segment.get_attribute("class") or "")
    print(f"captions: {captions!r}; hit {hit['start']:.2f} s, spoken {spoken[SEARCHED]:.2f} s; "
          f"{time.monotonic() - began:.1f} s")
