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

import pytest
from e2e_harness import Cafe
from e2e_pages import (
    Room,
    end_cafe,
    go_live,
    open_cafe,
    search_hits,
    wait_for_js,
)
from e2e_speech import MIC_HOOK, Speech
from e2e_spoken import CaptioningServer, get_json, publish_on_admin_page
from playwright.sync_api import Browser

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
# The rest of what the fixtures read (e2e_spoken.py).
SPOKEN = tuple(text for text, _ in SENTENCES)
SERVER = CaptioningServer


def test_spoken_words_are_captioned_then_found_and_played_at_their_moment(
        spoken_room: Room, spoken_server: CaptioningServer, speaker_browser: Browser,
        audience_browser: Browser, spoken_speech: Speech) -> None:
    began = time.monotonic()
    server = spoken_server
    cafe: Cafe = server.create_cafe("Les écrans à la maison")

    # The expert, with the microphone untouched by echo cancellation and gain control.
    expert = spoken_room.open(speaker_browser, cafe.expert, "Dr Martin", raw_audio=True)
    expert.context.add_init_script(MIC_HOOK)
    expert.reload()
    expert.wait_for_selector('#connection-state[data-state="connected"]')

    open_cafe(expert)
    parent = spoken_room.open(audience_browser, cafe.page, "Marie")
    go_live(expert)
    # Camera off (black frames at a low rate): encoding and decoding 720p video costs CPU
    # the speech needs on a small, busy machine (starved, the recording gets holes).
    expert.click("#toggle-camera")
    mic_started = float(expert.evaluate("window.__micStartedAt")) / 1000
    cafe_seconds_at_mic = mic_started - server.opened_at(cafe.slug).timestamp()
    assert 0 <= cafe_seconds_at_mic < 30
    spoken = {word: cafe_seconds_at_mic + onset
              for (_, word), onset in zip(SENTENCES, spoken_speech.onsets, strict=True) if word}

    # Live captions reach the parent while the expert speaks.
    words = json.dumps(CAPTION_WORDS)
    wait_for_js(parent, "() => { const t = document.getElementById('captions').textContent"
                        f".toLowerCase(); return {words}.some((w) => t.includes(w)); }}",
                timeout=spoken_speech.duration + 15)
    captions = parent.inner_text("#captions")
    assert parent.locator("#captions p").count() >= 1

    # Let the file play to its end, then end the café.
    remaining = mic_started + spoken_speech.duration + 0.5 - time.time()
    if remaining > 0:
        time.sleep(remaining)
    end_cafe(expert)
    wait_for_js(expert, "() => document.getElementById('end-cafe').hidden === true", 15)

    publish_on_admin_page(audience_browser, server.base_url, cafe.slug, ORGANISER)

    # The final transcript is made in the background (its segments come all at once).
    deadline = time.monotonic() + 45
    while not (segments := get_json(parent, f"/cafes/{cafe.slug}/transcript.json")["segments"]):
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
