"""What the tests do and read on a room page: open and end the café, go live, and the media
counters of the page's peer connections (`window.causerie.subscriber` / `.publisher`)."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from e2e_harness import Server
from playwright.sync_api import Browser, BrowserContext, Page

# inbound-rtp counters of the subscriber connection, summed per kind.
_INBOUND = """
async () => {
  const pc = window.causerie && window.causerie.subscriber;
  if (!pc || pc.connectionState === "closed") return null;
  const out = {state: pc.connectionState, frames: 0, audioBytes: 0, audioEnergy: 0,
               videoTracks: 0, audioTracks: 0};
  (await pc.getStats()).forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    if (r.kind === "video") { out.frames += r.framesDecoded || 0; out.videoTracks += 1; }
    if (r.kind === "audio") {
      out.audioBytes += r.bytesReceived || 0; out.audioEnergy += r.totalAudioEnergy || 0;
      out.audioTracks += 1;
    }
  });
  return out;
}
"""

_PUBLISHER_STATE = """
() => {
  const pc = window.causerie && window.causerie.publisher;
  return pc ? pc.connectionState : null;
}
"""


@dataclass(frozen=True)
class Inbound:
    state: str
    frames: int
    audio_bytes: int
    audio_energy: float


def inbound(page: Page) -> Inbound | None:
    raw = page.evaluate(_INBOUND)
    if raw is None:
        return None
    return Inbound(str(raw["state"]), int(raw["frames"]), int(raw["audioBytes"]),
                   float(raw["audioEnergy"]))


def wait_for_media(page: Page, timeout: float = 20.0) -> Inbound:
    """Waits until video frames are decoded and audio bytes keep coming in."""
    deadline = time.monotonic() + timeout
    first_audio: int | None = None
    last: Inbound | None = None
    while time.monotonic() < deadline:
        last = inbound(page)
        if last is not None and last.frames > 0 and last.audio_bytes > 0:
            if first_audio is None:
                first_audio = last.audio_bytes
            elif last.audio_bytes > first_audio:
                return last
        time.sleep(0.25)
    raise AssertionError(f"no media on {page.url}: last counters {last}")


def wait_for_publisher(page: Page, timeout: float = 20.0) -> None:
    wait_for_js(page, f"() => ({_PUBLISHER_STATE})() === 'connected'", timeout)


def wait_for_js(page: Page, function: str, timeout: float = 10.0) -> None:
    """Polls `function` (JS source of a function) until it returns true. Not
    `page.wait_for_function`: it evaluates strings with eval, which the room's CSP refuses
    (as it should)."""
    deadline = time.monotonic() + timeout
    while True:
        if page.evaluate(function) is True:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s on {page.url}: {function}")
        time.sleep(0.2)


def open_cafe(page: Page) -> None:
    page.click("#open-cafe")
    page.wait_for_selector("#end-cafe:not([hidden])")


def go_live(page: Page) -> None:
    page.click("#go-live")
    wait_for_publisher(page)


def end_cafe(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#end-cafe")


class Room:
    """Opens café pages in their own contexts (own localStorage: own browser_key), and
    closes them at the end of the test; on failure, the server log helps most."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.contexts: list[BrowserContext] = []
        self.console: list[str] = []

    def open(self, browser: Browser, url: str, pseudonym: str, *, width: int = 1280,
             raw_audio: bool = False) -> Page:
        context = browser.new_context(viewport={"width": width, "height": 900},
                                      locale="fr-FR")
        if raw_audio:
            # The fake microphone's file, untouched by echo cancellation and gain control.
            context.add_init_script("localStorage.setItem('causerie.raw-audio', '1')")
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: self.console.append(f"{pseudonym}: {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"{pseudonym}: ERROR {exc}"))
        page.goto(url)
        page.fill("#pseudonym", pseudonym)
        page.click("#join-form button[type=submit]")
        page.wait_for_selector("#room:not([hidden])")
        page.wait_for_selector('#connection-state[data-state="connected"]')
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def fetch_text(page: Page, url: str) -> str:
    """GET from inside the page (the server listens inside the network namespace)."""
    return str(page.evaluate(
        "async (u) => (await fetch(u, {cache: 'no-store'})).text()", url))


def fetch_bytes(page: Page, url: str) -> bytes:
    encoded = page.evaluate("""async (u) => {
      const buf = new Uint8Array(await (await fetch(u, {cache: 'no-store'})).arrayBuffer());
      let s = ''; for (let i = 0; i < buf.length; i += 8192) {
        s += String.fromCharCode.apply(null, buf.subarray(i, i + 8192)); }
      return btoa(s); }""", url)
    return base64.b64decode(str(encoded))


def search_hits(page: Page, word: str, slug: str) -> list[dict[str, Any]]:
    """`/api/search` for ``word`` in one café, as the page would ask it."""
    query = urllib.parse.urlencode({"q": word, "cafe": slug})
    hits: list[dict[str, Any]] = json.loads(fetch_text(page, f"/api/search?{query}"))["hits"]
    return hits


def log_in(page: Page, base_url: str, email: str, password: str, next_path: str) -> None:
    """The organiser's login form, then wait for the page it leads to."""
    page.goto(f"{base_url}/login?{urllib.parse.urlencode({'next': next_path})}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{next_path}")


@contextmanager
def room_telling_on_failure(server: Server, request: Any, log_lines: int = 80,
                            ) -> Iterator[Room]:
    """A `Room` for one test (``request`` its pytest request); if the test failed, the
    browser console and the server log's tail are printed before the pages close."""
    opened = Room(server)
    try:
        yield opened
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print("--- browser console ---\n" + "\n".join(opened.console[-80:]))
            print("--- server log ---\n" + server.log_tail(log_lines))
        opened.close()
