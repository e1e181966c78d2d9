"""Review before publishing, in Chromium against a real `causerie serve` and the real Whisper
model: a café with a word list; a parent's question taken by the expert; the expert speaks
(a French WAV as the fake microphone) and ends the café. The transcript holds the expert's
words; on the review page the organiser corrects a word and redacts a child's name, then
publishes; search finds the corrected word and no longer the name; the replay served to the
public is silent over the redaction (decoded here, its level measured against the speech
the part recorded there); the question is a chapter the transcript page lists and jumps to.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
import subprocess
import time
import urllib.parse
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import webvtt
from e2e_harness import CAUSERIE, CHROMIUM_FLAGS, REPO, Cafe, Namespace, Server
from e2e_pages import Room, end_cafe, go_live, open_cafe, wait_for_js
from playwright.sync_api import Browser, Dialog, Page, Playwright

pytestmark = [pytest.mark.e2e, pytest.mark.whisper, pytest.mark.timeout(300)]

RATE = 48_000
LEAD_SILENCE = 1.5
PAUSE = 2.0
# The café's word list of issue 10 (a list that once made Whisper drop every word).
GLOSSARY = "3018, Snapchat, WhatsApp, e-Enfance"
SENTENCES = (
    "Bonsoir à toutes et à tous, bienvenue au café des parents.",
    "Julie, ma fille, a reçu des messages sur son téléphone.",
    "Les jeux vidéo en ligne permettent de discuter avec des inconnus.",
)
EXPERT_WORDS = ("bonsoir", "parents", "messages", "téléphone", "jeux", "vidéo", "ligne",
                "discuter", "inconnus")
NAME = re.compile(r"\bJuli\w*", re.IGNORECASE)  # Julie, as Whisper may spell it
CORRECTED = "Fortnite"  # the word the organiser types in place of a misheard one
QUESTION = "Comment protéger mon fils sur son téléphone ?"
ORGANISER = ("relecture@example.org", "Organisatrice", "mot-de-passe-de-test-42")

_GUM_HOOK = """
(() => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    if (window.__micStartedAt === undefined) window.__micStartedAt = Date.now();
    return stream;
  };
})();
"""


@dataclass(frozen=True)
class Speech:
    path: Path
    duration: float


def build_speech(directory: Path) -> Speech:
    parts = [np.zeros(int(LEAD_SILENCE * RATE), np.int16)]
    for index, text in enumerate(SENTENCES):
        raw = directory / f"s{index}-raw.wav"
        resampled = directory / f"s{index}.wav"
        subprocess.run(["espeak-ng", "-v", "fr", "-s", "140", "-w", str(raw), text],
                       check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16",
                        str(resampled)], check=True, capture_output=True)
        with wave.open(str(resampled), "rb") as w:
            parts.append(np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16))
        parts.append(np.zeros(int(PAUSE * RATE), np.int16))
    audio = np.concatenate(parts)
    path = directory / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(audio.tobytes())
    return Speech(path, len(audio) / RATE)


class ReviewServer(Server):
    def create_organiser(self, email: str, name: str, password: str) -> None:
        subprocess.run([CAUSERIE, "admin", "create", "--email", email, "--name", name,
                        "--password-stdin"], input=password + "\n", env=self.env, cwd=REPO,
                       check=True, capture_output=True, text=True)

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data_dir / "causerie.db") as db:
            return list(db.execute(sql, args).fetchall())


@pytest.fixture(scope="module")
def review_speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return build_speech(tmp_path_factory.mktemp("review-speech"))


@pytest.fixture(scope="module")
def review_server(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory,
                  ) -> Iterator[ReviewServer]:
    srv = ReviewServer(namespace, tmp_path_factory.mktemp("e2e-review-data"))
    srv.upgrade()
    srv.start()
    srv.create_organiser(*ORGANISER)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def review_speaker(playwright: Playwright, namespace: Namespace, review_speech: Speech,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    directory = tmp_path_factory.mktemp("chromium-review-speaker")
    browser = playwright.chromium.launch(
        executable_path=namespace.chromium_executable(directory), headless=True,
        args=[*CHROMIUM_FLAGS,
              f"--use-file-for-fake-audio-capture={review_speech.path}%noloop"])
    yield browser
    browser.close()


@pytest.fixture()
def review_room(review_server: ReviewServer, request: pytest.FixtureRequest) -> Iterator[Room]:
    opened = Room(review_server)
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("--- browser console ---\n" + "\n".join(opened.console[-80:]))
        print("--- server log ---\n" + review_server.log_tail(150))
    opened.close()


def _get(page: Page, url: str) -> str:
    return str(page.evaluate("async (u) => (await fetch(u, {cache: 'no-store'})).text()", url))


def _bytes(page: Page, url: str) -> bytes:
    encoded = page.evaluate("""async (u) => {
      const buf = new Uint8Array(await (await fetch(u, {cache: 'no-store'})).arrayBuffer());
      let s = ''; for (let i = 0; i < buf.length; i += 8192) {
        s += String.fromCharCode.apply(null, buf.subarray(i, i + 8192)); }
      return btoa(s); }""", url)
    return base64.b64decode(str(encoded))


def _search(page: Page, word: str, slug: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"q": word, "cafe": slug})
    hits: list[dict[str, Any]] = json.loads(_get(page, f"/api/search?{query}"))["hits"]
    return hits


def _level(audio: np.ndarray[Any, np.dtype[np.float32]], start: float, end: float) -> float:
    from transcripts.engine import SAMPLE_RATE

    part = audio[max(0, int(start * SAMPLE_RATE)):int(end * SAMPLE_RATE)].astype(np.float64)
    return float(np.sqrt(np.mean(part ** 2))) if len(part) else 0.0


def _decode(data: bytes, directory: Path, name: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    from transcripts.engine import decode_audio

    path = directory / name
    path.write_bytes(data)
    return decode_audio(path)


def _ask_and_take_question(parent: Page, moderator: Page, expert: Page) -> None:
    parent.fill("#question-text", QUESTION)
    parent.click("#ask-form button[type=submit]")
    pending = moderator.locator(f"#pending-questions .question:has(.text:text-is({QUESTION!r}))")
    pending.wait_for()
    moderator.locator("#pending-questions").focus()
    moderator.keyboard.press("a")
    approved = expert.locator(f"#approved-questions .question:has(.text:text-is({QUESTION!r}))")
    approved.wait_for()
    approved.locator("[data-action=answering]").click()
    parent.locator(f"#answering .text:text-is({QUESTION!r})").wait_for()


def test_organiser_corrects_and_redacts_then_search_replay_and_chapters_follow(
        review_room: Room, review_server: ReviewServer, review_speaker: Browser,
        audience_browser: Browser, review_speech: Speech, tmp_path: Path) -> None:
    began = time.monotonic()
    server = review_server
    cafe: Cafe = server.create_cafe("Protéger ses enfants en ligne", glossary=GLOSSARY)

    expert = review_room.open(review_speaker, cafe.expert, "Dr Martin", raw_audio=True)
    expert.context.add_init_script(_GUM_HOOK)
    expert.reload()
    expert.wait_for_selector('#connection-state[data-state="connected"]')
    open_cafe(expert)
    parent = review_room.open(audience_browser, cafe.page, "Marie")
    moderator = review_room.open(audience_browser, cafe.moderator, "Sophie")
    # The question is taken before the expert speaks: the answer is its chapter.
    _ask_and_take_question(parent, moderator, expert)
    go_live(expert)
    expert.click("#toggle-camera")  # black frames: the CPU goes to the speech
    mic_started = float(expert.evaluate("window.__micStartedAt")) / 1000
    remaining = mic_started + review_speech.duration + 0.5 - time.time()
    if remaining > 0:
        time.sleep(remaining)
    expert.locator("#answering [data-action=answered]").click()
    parent.locator(f"#answered-questions .text:text-is({QUESTION!r})").wait_for(
        state="attached")
    end_cafe(expert)
    wait_for_js(expert, "() => document.getElementById('end-cafe').hidden === true", 15)

    # The organiser opens the review page from the café's admin page, before publishing.
    context = audience_browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.on("console", lambda msg: review_room.console.append(f"organiser: {msg.text}"))
    page.goto(f"{server.base_url}/login?next=/admin/cafes/{cafe.slug}")
    email, _, password = ORGANISER
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**/admin/cafes/{cafe.slug}")
    assert page.evaluate(f"fetch('/cafes/{cafe.slug}/transcript').then(r => r.status)") == 404

    # The final transcript is made in the background; the review page shows it when done.
    deadline = time.monotonic() + 90
    while True:
        done = server.query("SELECT count(*) FROM transcript_jobs j JOIN cafes c ON"
                            " c.id = j.cafe_id WHERE c.slug = ? AND j.status != 'done'",
                            cafe.slug)[0][0] == 0
        replay = server.query("SELECT count(*) FROM recordings r JOIN cafes c ON"
                              " c.id = r.cafe_id WHERE c.slug = ? AND r.status = 'replay'",
                              cafe.slug)[0][0]
        if done and replay:
            break
        assert time.monotonic() < deadline, f"no transcript yet:\n{server.log_tail(40)}"
        time.sleep(0.5)
    page.click("#review-link")
    page.wait_for_url(f"**/cafes/{cafe.slug}/review")
    texts = page.eval_on_selector_all("#review-segments textarea.text",
                                      "(els) => els.map((e) => e.value)")
    transcript = " ".join(texts)
    print(f"transcript: {texts}")
    # No speech lost: text for about all of it, and words of it (espeak's French through
    # WebRTC on a busy machine comes out garbled: keywords, not a WER bound).
    heard = [w for w in EXPERT_WORDS if w in transcript.lower()]
    assert len(heard) >= 2, f"the expert's words are missing: {texts}"
    assert len(transcript) >= 0.5 * len(" ".join(SENTENCES)), texts
    name = NAME.search(transcript)
    assert name is not None, f"Whisper did not write the child's name: {texts}"
    assert _search(page, name.group(0), cafe.slug) == []  # unpublished: not searchable

    # Correct a word: the first word of the "jeux vidéo" sentence Whisper wrote.
    index = next(i for i, t in enumerate(texts)
                 if re.search(r"\b(jeux|vidéo|ligne|discuter)\b", t, re.IGNORECASE))
    segment = page.locator("#review-segments li.segment").nth(index)
    segment_id = segment.get_attribute("data-id")
    original = texts[index]
    misheard = re.search(r"\b(vidéo|jeux|ligne|discuter)\b", original, re.IGNORECASE)
    assert misheard is not None
    corrected = original[:misheard.start()] + CORRECTED + original[misheard.end():]
    segment.locator("textarea.text").fill(corrected)
    segment.locator("button.save").click()
    wait_for_js(page, f"() => document.querySelector('#s{segment_id} textarea.text')"
                      f".getAttribute('data-saved') === {json.dumps(corrected)}", 15)

    # Redact the name: select it in its segment's text and choose "Retirer".
    name_index = next(i for i, t in enumerate(texts) if NAME.search(t))
    name_item = page.locator("#review-segments li.segment").nth(name_index)
    name_id = name_item.get_attribute("data-id")
    found_name = NAME.search(texts[name_index])
    assert found_name is not None
    name_item.locator("textarea.text").evaluate(
        "(ta, span) => { ta.focus(); ta.setSelectionRange(span[0], span[1]); }",
        [found_name.start(), found_name.end()])
    name_item.locator("button.redact").click()
    wait_for_js(page, f"() => document.querySelector('#s{name_id} textarea.text')"
                      ".value.includes('[retiré]')", 60)
    assert not NAME.search(name_item.locator("textarea.text").input_value())

    # Publish from the review page (over a coverage warning the page asks to confirm: the
    # organiser does, and the dialog's text is kept for the log).
    dialogs: list[str] = []

    def confirm(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    page.click("#publish")
    page.wait_for_selector('#publish-state[data-published="1"]')

    # Search finds the corrected word, at its segment, and no longer the name.
    hits = _search(page, CORRECTED, cafe.slug)
    assert [h["segment_id"] for h in hits] == [int(segment_id or 0)], hits
    assert hits[0]["start"] <= hits[0]["moment"] <= hits[0]["end"]
    assert _search(page, found_name.group(0), cafe.slug) == []
    for fmt in ("vtt", "srt", "txt", "json"):
        assert not NAME.search(_get(page, f"/cafes/{cafe.slug}/transcript.{fmt}")), fmt

    # The replay the public is served is silent over the redaction; the recorded part
    # had the expert's voice there.
    ((lo, hi),) = server.query("SELECT r.start_seconds, r.end_seconds FROM redactions r"
                               " JOIN cafes c ON c.id = r.cafe_id WHERE c.slug = ?", cafe.slug)
    served = _decode(_bytes(page, f"/cafes/{cafe.slug}/recording"), tmp_path, "replay.ogg")
    ((part_path, part_offset),) = server.query(
        "SELECT r.path, r.offset_seconds FROM recordings r JOIN cafes c ON c.id = r.cafe_id"
        " WHERE c.slug = ? AND r.status = 'transcribed' AND r.offset_seconds <= ?"
        " ORDER BY r.offset_seconds DESC LIMIT 1", cafe.slug, lo)
    recorded = _decode(Path(part_path).read_bytes(), tmp_path, "part.ogg")
    silenced = _level(served, lo + 0.05, hi - 0.05)
    spoken = _level(recorded, lo - part_offset, hi - part_offset)
    speech_elsewhere = _level(served, hi + 0.3, hi + 2.0) + _level(served, lo - 2.0, lo - 0.3)
    print(f"redacted {lo:.2f}-{hi:.2f} s: served rms {silenced:.5f}, recorded {spoken:.4f}, "
          f"around {speech_elsewhere:.4f}")
    assert spoken > 0.005 and silenced < spoken / 20 and silenced < 0.001
    assert speech_elsewhere > 0.005  # only the span is silenced

    # The question is a chapter: listed on the transcript page, in chapters.vtt, and a
    # click plays the replay from it.
    chapters = webvtt.from_buffer(io.StringIO(_get(page, f"/cafes/{cafe.slug}/chapters.vtt")))
    (cue,) = chapters.captions
    assert cue.text == QUESTION
    start = cue.start_in_seconds
    public = context.new_page()
    public.goto(f"{server.base_url}/cafes/{cafe.slug}/transcript")
    link = public.locator("#chapters a.chapter")
    assert link.count() == 1 and QUESTION in link.inner_text()
    link.click()
    wait_for_js(public, "() => { const p = document.getElementById('player');"
                        " return !p.paused && p.currentTime > 0; }", timeout=10)
    offset = float(public.get_attribute("#player", "data-offset") or 0)
    at = float(public.evaluate("document.getElementById('player').currentTime")) + offset
    assert start - 0.5 <= at <= start + 1.5, (at, start)
    context.close()
    print(f"review e2e: {len(texts)} segments, publish dialogs {dialogs}, "
          f"{time.monotonic() - began:.1f} s")
