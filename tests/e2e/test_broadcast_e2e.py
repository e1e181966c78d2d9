"""The large-audience mode in Chromium against a real `causerie serve` (live captions on,
the real Whisper model): in one café, two parents on WebRTC and one who picked the data
saving mode, on the HLS broadcast through hls.js. That parent sees the expert's video (the
<video> plays, 640x480, its time advancing) and the live captions (the broadcast's WebVTT
rendition), asks a question that the moderator approves and that reaches every parent;
after the café, a search hit opens the transcript page playing the video replay at its
moment.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from e2e_harness import Cafe
from e2e_pages import (
    Room,
    end_cafe,
    go_live,
    open_cafe,
    search_hits,
    wait_for_js,
    wait_for_media,
)
from e2e_speech import MIC_HOOK, Speech
from e2e_spoken import CaptioningServer, get_json, publish_on_admin_page
from playwright.sync_api import Browser, Page
from test_transcript_e2e import (
    CAPTION_WORDS,
    ORGANISER,
    PAUSE,  # noqa: F401 (read by the fixtures, e2e_spoken.py)
    SEARCHED,
    SENTENCES,
)

pytestmark = [pytest.mark.e2e, pytest.mark.whisper, pytest.mark.timeout(420)]

QUESTION = "Comment limiter les écrans le soir sans conflit ?"

# The broadcast's player: playing, the picture's size, its time, its WebVTT cues' text.
_BROADCAST = """
() => {
  const room = window.causerie && window.causerie.room;
  const video = document.getElementById("stage-video");
  const cues = [];
  for (const track of video.textTracks) {
    for (const cue of track.cues || []) cues.push(cue.text);
  }
  return {
    active: Boolean(room && room.broadcast.active),
    hlsjs: Boolean(room && room.broadcast.hls),
    webrtc: Boolean(window.causerie.subscriber),
    width: video.videoWidth, height: video.videoHeight, time: video.currentTime,
    paused: video.paused, ready: video.readyState, cues,
    tracks: [...video.textTracks].map((t) => t.mode),
  };
}
"""


class BroadcastServer(CaptioningServer):
    """With live captions; a loaded machine loads the caption model slowly."""

    def _wait_ready(self, timeout: float = 120.0) -> None:
        super()._wait_ready(timeout)


# A small camera: decoding and re-encoding 720p video (VP8 for the WebRTC parents, H.264 for
# the broadcast) takes the CPU the live captions need on a small, busy machine. The
# programme is still 640x480 (scaled).
_SMALL_CAMERA = """
(() => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = (constraints) => original(constraints && constraints.video
    ? { ...constraints, video: { width: 320, height: 240, frameRate: 15 } } : constraints);
})();
"""


# What the fixtures read (e2e_spoken.py): the transcript test's speech, PAUSE and ORGANISER,
# a broadcasting server; the expert's Chromium fakes the camera (a moving pattern) too.
SPOKEN = tuple(text for text, _ in SENTENCES)
SERVER = BroadcastServer


def question(list_id: str, text: str) -> str:
    return f"#{list_id} .question:has(.text:text-is({text!r}))"


def _broadcast(page: Page) -> dict[str, object]:
    state: dict[str, object] = page.evaluate(_BROADCAST)
    return state


def test_a_parent_on_the_broadcast_sees_hears_asks_and_replays(
        spoken_room: Room, spoken_server: BroadcastServer, speaker_browser: Browser,
        audience_browser: Browser, spoken_speech: Speech) -> None:
    server = spoken_server
    cafe: Cafe = server.create_cafe("Les écrans le soir")
    expert = spoken_room.open(speaker_browser, cafe.expert, "Dr Martin", raw_audio=True)
    expert.context.add_init_script(_SMALL_CAMERA)
    expert.context.add_init_script(MIC_HOOK)
    expert.reload()
    expert.wait_for_selector('#connection-state[data-state="connected"]')
    open_cafe(expert)
    moderator = spoken_room.open(audience_browser, cafe.moderator, "Sophie")
    marie = spoken_room.open(audience_browser, cafe.page, "Marie")
    paul = spoken_room.open(audience_browser, cafe.page, "Paul", width=390)
    lea = spoken_room.open(audience_browser, cafe.page, "Léa", width=390)
    # Léa picks the data saving mode (a parent beyond the WebRTC places gets it by itself:
    # tests/functional/test_broadcast_hls.py).
    lea.click("#data-saving")
    assert lea.get_attribute("#data-saving", "aria-pressed") == "true"
    go_live(expert)

    for parent in (marie, paul):
        assert wait_for_media(parent, timeout=40).state == "connected"

    # Léa: the expert's video through hls.js, playing, its time advancing; no WebRTC.
    wait_for_js(lea, f"() => {{ const s = ({_BROADCAST})(); return s.active && s.ready >= 2"
                     " && s.width === 640 && s.height === 480 && !s.paused; }", timeout=60)
    first = _broadcast(lea)
    time.sleep(2.0)
    later = _broadcast(lea)
    assert later["hlsjs"] is True and later["webrtc"] is False, later
    assert float(str(later["time"])) > float(str(first["time"])) + 1.0, (first, later)
    lea.wait_for_selector("#broadcast-note:not([hidden])")
    lea.wait_for_selector("#player-empty", state="hidden")

    # The live captions: in her captions box as for everyone, and as the broadcast's
    # WebVTT rendition on her video (its cues, once the first final caption is listed).
    words = json.dumps(CAPTION_WORDS)
    wait_for_js(lea, "() => { const t = document.getElementById('captions').textContent"
                     f".toLowerCase(); return {words}.some((w) => t.includes(w)); }}",
                timeout=spoken_speech.duration + 40)
    wait_for_js(lea, f"() => ({_BROADCAST})().cues.join(' ').trim().length > 0",
                timeout=spoken_speech.duration + 40)
    cues = _broadcast(lea)["cues"]
    modes = _broadcast(lea)["tracks"]
    assert isinstance(modes, list) and "showing" in modes, modes  # drawn on the picture

    # Her question, approved by the moderator, reaches every parent.
    lea.fill("#question-text", QUESTION)
    lea.click("#ask-form button[type=submit]")
    moderator.locator(question("pending-questions", QUESTION)).wait_for(timeout=15_000)
    moderator.locator("#pending-questions").focus()
    moderator.keyboard.press("a")
    for parent in (marie, paul, lea):
        parent.locator(question("approved-questions", QUESTION)).wait_for(timeout=15_000)
    assert _broadcast(lea)["active"] is True  # still on the broadcast

    # The end of the speech, the end of the café, the transcript published.
    mic_started = float(expert.evaluate("window.__micStartedAt")) / 1000
    remaining = mic_started + spoken_speech.duration + 0.5 - time.time()
    if remaining > 0:
        time.sleep(remaining)
    end_cafe(expert)
    wait_for_js(expert, "() => document.getElementById('end-cafe').hidden === true", 15)
    publish_on_admin_page(audience_browser, server.base_url, cafe.slug, ORGANISER)
    deadline = time.monotonic() + 90
    while not get_json(marie, f"/cafes/{cafe.slug}/transcript.json")["segments"]:
        assert time.monotonic() < deadline, f"no transcript yet:\n{server.log_tail(40)}"
        time.sleep(0.5)
    # A hit: the searched word if Whisper heard it (robotic speech on a busy machine: it
    # may not), else another word it wrote down. What is checked is the replay at the hit.
    segments = get_json(marie, f"/cafes/{cafe.slug}/transcript.json")["segments"]
    written = [w.strip(".,;:!?«»\"'") for seg in segments for w in seg["text"].split()]
    candidates = [SEARCHED, *CAPTION_WORDS, *(w for w in written if len(w) >= 4)]
    hits: list[dict[str, Any]] = next(
        (found for word in candidates if (found := search_hits(marie, word, cafe.slug))), [])
    assert hits, segments
    hit = hits[0]

    # The hit's link: the transcript page plays the video replay from that moment.
    page = marie.context.new_page()
    deadline = time.monotonic() + 60
    while True:
        page.goto(f"{server.base_url}{hit['url']}")
        if page.locator("video#player").count():
            break
        assert time.monotonic() < deadline, "no video replay on the transcript page"
        time.sleep(1.0)
    offset = float(page.get_attribute("#player", "data-offset") or 0)
    wait_for_js(page, "() => { const p = document.getElementById('player');"
                      " return !p.paused && p.currentTime > 0 && p.videoWidth === 640; }",
                timeout=20)
    at = float(page.evaluate("document.getElementById('player').currentTime")) + offset
    assert hit["start"] - 0.5 <= at <= hit["start"] + 2.0, (at, hit["start"], offset)
    wait_for_js(page, f"() => document.getElementById('s{hit['segment_id']}')"
                      ".classList.contains('current')")
    print(f"broadcast cues: {cues!r}; hit {hit['start']:.2f} s, replay at {at:.2f} s "
          f"(offset {offset:.2f} s)")
