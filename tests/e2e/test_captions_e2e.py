"""Live captions in Chromium against a real `causerie serve` with the real Whisper model: a
caption line is replaced as its phrase grows (interims, then the final), not appended; and
when a phrase has to be dropped the page says captions are behind instead of going silent.

The expert's microphone is a WAV of one long French sentence (espeak-ng, about 12 s with no
pause long enough to end the phrase); the parent's page records, with a MutationObserver,
every state of every caption line it shows.
"""

from __future__ import annotations

import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import CHROMIUM_FLAGS, Namespace, Server
from e2e_pages import Room, go_live, open_cafe, wait_for_js
from playwright.sync_api import Browser, Page, Playwright

pytestmark = [pytest.mark.e2e, pytest.mark.whisper, pytest.mark.timeout(240)]

RATE = 48_000
LEAD_SILENCE = 1.5
PHRASE = ("Quand votre enfant reçoit son premier téléphone portable, fixez ensemble des règles "
          "claires sur les heures d'usage, les applications autorisées et les endroits de la "
          "maison où les écrans restent éteints.")

# Every state of every caption line, in order: [{line, text, final, copies}] on window.
_OBSERVER = """
(() => {
  window.__captionStates = [];
  const seen = new Map();
  const record = () => {
    const box = document.getElementById("captions");
    if (!box) return;
    for (const p of box.querySelectorAll("p[data-line]")) {
      const state = {line: p.dataset.line, text: p.querySelector(".text")?.textContent || "",
                     final: p.dataset.final,
                     copies: box.querySelectorAll(`p[data-line="${p.dataset.line}"]`).length};
      const key = JSON.stringify(state);
      if (seen.get(state.line) !== key) {
        seen.set(state.line, key);
        window.__captionStates.push(state);
      }
    }
  };
  const start = () => {
    const box = document.getElementById("captions");
    if (!box) return setTimeout(start, 50);
    new MutationObserver(record).observe(box, {childList: true, subtree: true,
                                               characterData: true, attributes: true});
  };
  start();
})();
"""


class CaptioningServer(Server):
    """The harness's server with live captions on; `max_wait` as an operator sets it."""

    def __init__(self, namespace: Namespace, data_dir: Path, max_wait: float) -> None:
        super().__init__(namespace, data_dir)
        self.max_wait = max_wait

    @property
    def env(self) -> dict[str, str]:
        return super().env | {"CAUSERIE_WHISPER__LIVE_CAPTIONS": "true",
                              "CAUSERIE_WHISPER__CAPTION_MAX_WAIT": str(self.max_wait)}


def _long_phrase(directory: Path) -> Path:
    raw = directory / "raw.wav"
    resampled = directory / "phrase.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(raw), PHRASE], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(resampled),
                    "pad", str(LEAD_SILENCE), "3"], check=True, capture_output=True)
    return resampled


def _duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


@pytest.fixture(scope="module")
def phrase(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _long_phrase(tmp_path_factory.mktemp("caption-phrase"))


@pytest.fixture(scope="module")
def phrase_browser(playwright: Playwright, namespace: Namespace, phrase: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    directory = tmp_path_factory.mktemp("chromium-phrase")
    browser = playwright.chromium.launch(
        executable_path=namespace.chromium_executable(directory), headless=True,
        args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={phrase}%noloop"])
    yield browser
    browser.close()


def _server(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory,
            max_wait: float) -> Iterator[CaptioningServer]:
    srv = CaptioningServer(namespace, tmp_path_factory.mktemp("e2e-captions"), max_wait)
    srv.upgrade()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def captioning(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[CaptioningServer]:
    yield from _server(namespace, tmp_path_factory, 6.0)


@pytest.fixture(scope="module")
def impatient(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[CaptioningServer]:
    """No phrase may wait at all: every final is dropped, as on a saturated machine."""
    yield from _server(namespace, tmp_path_factory, 0.0)


def _speak(server: Server, request: pytest.FixtureRequest, phrase_browser: Browser,
           audience_browser: Browser) -> tuple[Room, Page, Page]:
    room = Room(server)
    request.addfinalizer(room.close)
    cafe = server.create_cafe("Les écrans à la maison")
    expert = room.open(phrase_browser, cafe.expert, "Dr Martin", raw_audio=True)
    open_cafe(expert)
    parent = room.open(audience_browser, cafe.page, "Marie")
    parent.evaluate(_OBSERVER)
    go_live(expert)
    expert.click("#toggle-camera")  # audio is what this is about; spare the CPU
    return room, expert, parent


def _states(page: Page) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = page.evaluate("window.__captionStates")
    return states


def test_a_caption_line_is_replaced_as_its_phrase_grows(
        captioning: CaptioningServer, request: pytest.FixtureRequest,
        phrase_browser: Browser, audience_browser: Browser, phrase: Path) -> None:
    _, _, parent = _speak(captioning, request, phrase_browser, audience_browser)
    deadline = time.monotonic() + _duration(phrase) + 40
    grown: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        states = _states(parent)
        lines = {s["line"] for s in states}
        grown = [s for s in states if any(
            t["line"] == s["line"] and t["final"] == "false" for t in states)
            and s["final"] == "true"]
        if grown and len(lines) >= 1:
            break
        time.sleep(0.5)
    states = _states(parent)
    print(f"caption states: {states}")
    assert grown, f"no line went from interim to final: {states}\n{captioning.log_tail(40)}"
    line = grown[0]["line"]
    history = [s for s in states if s["line"] == line]
    # One element for the line the whole time: its text replaced, never a second copy.
    assert all(s["copies"] == 1 for s in history), history
    assert history[0]["final"] == "false" and history[-1]["final"] == "true"
    assert len({s["text"] for s in history}) >= 2, history
    assert parent.locator(f'#captions p[data-line="{line}"]').count() == 1
    assert parent.is_hidden("#captions-behind")


def test_the_page_says_captions_are_behind_when_a_phrase_is_dropped(
        impatient: CaptioningServer, request: pytest.FixtureRequest,
        phrase_browser: Browser, audience_browser: Browser, phrase: Path) -> None:
    _, _, parent = _speak(impatient, request, phrase_browser, audience_browser)
    wait_for_js(parent, "() => !document.getElementById('captions-behind').hidden",
                timeout=_duration(phrase) + 40)
    assert parent.inner_text("#captions-behind").strip() == "Sous-titres en retard"
    cut = parent.locator("#captions p .cut")
    assert cut.count() >= 1
    assert "n’a pas pu être sous-titrée" in cut.first.inner_text()
