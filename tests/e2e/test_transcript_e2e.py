"""A café from the microphone to the searchable transcript, in Chromium against a real
`causerie serve` with live captions on and the real Whisper model.

The expert's microphone is a WAV of known French sentences (espeak-ng) with known onsets; a
parent sees live captions of them; the expert ends the café; an organiser publishes the
transcript on the admin page; `/api/search` then finds the words at the café time where
they were spoken (within 2 s), the search page highlights them, and the hit's link opens the
transcript page playing from that moment with the matching segment highlighted.

Café time of a sentence = (when getUserMedia resolved in the expert's page, which is when
Chromium starts reading the fake-microphone file) - (the café's `opened_at`, the server's
own clock, read from its database) + (the sentence's onset in the WAV). Both clocks are this
machine's wall clock.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import urllib.parse
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_harness import CAUSERIE, CHROMIUM_FLAGS, REPO, Cafe, Namespace, Server
from e2e_pages import Room, end_cafe, go_live, open_cafe, wait_for_js
from playwright.sync_api import Browser, Page, Playwright

# 35-65 s here: server start with a caption model, 18 s of speech, the final transcript.
pytestmark = [pytest.mark.e2e, pytest.mark.whisper, pytest.mark.timeout(240)]

RATE = 48_000
LEAD_SILENCE = 1.5  # s: the fake microphone starts before media reaches the server
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

# When the expert's page got its microphone (Date.now(), ms), kept on window.
_GUM_HOOK = """
(() => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    // The microphone's start (the expert's camera preview asks for video alone, earlier).
    if (constraints && constraints.audio && window.__micStartedAt === undefined) {
      window.__micStartedAt = Date.now();
    }
    return stream;
  };
})();
"""


@dataclass(frozen=True)
class Speech:
    path: Path
    onsets: tuple[float, ...]  # s into the file where each sentence's sound starts
    duration: float


def _espeak(text: str, directory: Path, index: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    raw = directory / f"s{index}-raw.wav"
    resampled = directory / f"s{index}.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(resampled)],
                   check=True, capture_output=True)
    with wave.open(str(resampled), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def build_speech(directory: Path) -> Speech:
    parts: list[np.ndarray[Any, np.dtype[np.int16]]] = [np.zeros(int(LEAD_SILENCE * RATE),
                                                                 np.int16)]
    onsets: list[float] = []
    position = len(parts[0])
    for index, (text, _) in enumerate(SENTENCES):
        samples = _espeak(text, directory, index)
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 500)
        onsets.append((position + (int(loud[0]) if len(loud) else 0)) / RATE)
        parts.append(samples)
        parts.append(np.zeros(int(PAUSE * RATE), np.int16))
        position += len(samples) + int(PAUSE * RATE)
    audio = np.concatenate(parts)
    path = directory / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(audio.tobytes())
    return Speech(path, tuple(onsets), len(audio) / RATE)


class CaptioningServer(Server):
    """The harness's server with live captions on (the shared model from the environment)."""

    @property
    def env(self) -> dict[str, str]:
        return super().env | {"CAUSERIE_WHISPER__LIVE_CAPTIONS": "true"}

    def create_organiser(self, email: str, name: str, password: str) -> None:
        subprocess.run([CAUSERIE, "admin", "create", "--email", email, "--name", name,
                        "--password-stdin"], input=password + "\n", env=self.env, cwd=REPO,
                       check=True, capture_output=True, text=True)

    def opened_at(self, slug: str) -> datetime:
        """The café's opening as the server recorded it (its clock places audio by it)."""
        with sqlite3.connect(self.data_dir / "causerie.db") as db:
            (value,) = db.execute("SELECT opened_at FROM cafes WHERE slug = ?",
                                  (slug,)).fetchone()
        opened = datetime.fromisoformat(str(value))
        return opened if opened.tzinfo else opened.replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return build_speech(tmp_path_factory.mktemp("transcript-speech"))


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
    directory = tmp_path_factory.mktemp("chromium-speaker")
    browser = playwright.chromium.launch(
        executable_path=namespace.chromium_executable(directory), headless=True,
        args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={speech.path}%noloop"])
    yield browser
    browser.close()


@pytest.fixture()
def transcript_room(captioning_server: CaptioningServer, request: pytest.FixtureRequest,
                    ) -> Iterator[Room]:
    opened = Room(captioning_server)
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("--- browser console ---\n" + "\n".join(opened.console[-80:]))
        print("--- server log ---\n" + captioning_server.log_tail(120))
    opened.close()


def _get_json(page: Page, url: str) -> Any:
    """GET from inside the page (the server listens inside the network namespace)."""
    text = page.evaluate("async (url) => (await fetch(url, {cache: 'no-store'})).text()", url)
    return json.loads(str(text))


def _search(page: Page, word: str, slug: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"q": word, "cafe": slug})
    hits: list[dict[str, Any]] = _get_json(page, f"/api/search?{query}")["hits"]
    return hits


def _publish_on_admin_page(browser: Browser, base_url: str, slug: str) -> None:
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(f"{base_url}/login?next=/admin/cafes/{slug}")
        email, _, password = ORGANISER
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("form button[type=submit]")
        page.wait_for_url(f"**/admin/cafes/{slug}")
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
    expert.context.add_init_script(_GUM_HOOK)
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
    hits = _search(parent, SEARCHED, cafe.slug)
    assert hits, said
    hit = hits[0]
    assert hit["cafe"]["slug"] == cafe.slug and hit["speaker"] == "Dr Martin"
    # A hit starts where its first matching word is spoken (Whisper's word timings).
    assert abs(hit["start"] - spoken[SEARCHED]) <= TOLERANCE, (hit, spoken)
    # The other sentence too, by whichever of its words Whisper got right this time.
    other = next((h[0] for w in ("vidéo", "jeux", "ligne", "discuter")
                  if (h := _search(parent, w, cafe.slug))), None)
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
