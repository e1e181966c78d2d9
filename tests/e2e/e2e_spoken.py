"""The fixtures of the browser tests that speak into a café: a French WAV (espeak-ng) as the
expert's fake microphone, a real `causerie serve` with an organiser, the speaker's Chromium
and a room that tells on failure; and what those tests do after the café (publish on the
admin page, read a JSON page).

The fixtures are shared through conftest.py; a test module says what differs in module
attributes, which they read from the requesting module (pytest's ``request.module``):

- ``SPOKEN``: the sentences, in order; ``PAUSE``: seconds between them; ``SPEED``
  (optional, espeak-ng words per minute, default 150);
- ``ORGANISER``: ``(email, name, password)`` of the organiser the server is given;
- ``SERVER`` (optional): the server class, default `Server`; ``LOG_LINES`` (optional): the
  server log's tail printed when the test fails, default 120.

The fixtures are module-scoped (one server and one speaker per module), but the room.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_harness import REPO, Namespace, Server
from e2e_pages import Room, fetch_text, log_in, room_telling_on_failure
from e2e_speech import Speech, sentences_wav, speaking_chromium
from playwright.sync_api import Browser, Page, Playwright

__all__ = ["CaptioningServer", "get_json", "publish_on_admin_page", "speaker_browser",
           "spoken_room", "spoken_server", "spoken_speech"]

# What the room page loads from node_modules (vendor/): missing, every page is broken.
NODE_MODULES = ("socket.io-client", "hls.js")


class CaptioningServer(Server):
    """The harness's server with live captions on (the shared model from the environment)."""

    @property
    def env(self) -> dict[str, str]:
        return super().env | {"CAUSERIE_WHISPER__LIVE_CAPTIONS": "true"}


def _name(request: pytest.FixtureRequest) -> str:
    name: str = request.module.__name__
    return name.removeprefix("test_").replace("_", "-")


@pytest.fixture(scope="module")
def spoken_speech(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """The module's ``SPOKEN`` sentences, ``PAUSE`` seconds apart."""
    module = request.module
    return sentences_wav(tmp_path_factory.mktemp(f"{_name(request)}-speech"), module.SPOKEN,
                         pause=module.PAUSE, speed=getattr(module, "SPEED", 150))


@pytest.fixture(scope="module")
def spoken_server(request: pytest.FixtureRequest, namespace: Namespace,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The module's ``SERVER``, migrated and started, with its ``ORGANISER``."""
    for package in NODE_MODULES:
        if not (REPO / "node_modules" / package).is_dir():
            pytest.fail(f"node_modules/{package} is missing: run `npm ci`")
    kind: type[Server] = getattr(request.module, "SERVER", Server)
    srv = kind(namespace, tmp_path_factory.mktemp(f"e2e-{_name(request)}-data"))
    srv.upgrade()
    srv.start()
    srv.create_organiser(*request.module.ORGANISER)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def speaker_browser(request: pytest.FixtureRequest, playwright: Playwright,
                    namespace: Namespace, spoken_speech: Speech,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """The expert's Chromium: the speech as its microphone (once), the fake camera."""
    with speaking_chromium(playwright, namespace,
                           tmp_path_factory.mktemp(f"chromium-{_name(request)}"),
                           spoken_speech) as browser:
        yield browser


@pytest.fixture()
def spoken_room(spoken_server: Server, request: pytest.FixtureRequest) -> Iterator[Room]:
    with room_telling_on_failure(spoken_server, request,
                                 log_lines=getattr(request.module, "LOG_LINES", 120)) as opened:
        yield opened


def get_json(page: Page, url: str) -> Any:
    return json.loads(fetch_text(page, url))


def publish_on_admin_page(browser: Browser, base_url: str, slug: str,
                          organiser: tuple[str, str, str]) -> None:
    """The organiser publishes the café's transcript from its admin page."""
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        email, _, password = organiser
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
