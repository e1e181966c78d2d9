"""Chromium against a real `causerie serve`, both inside a private network namespace with only
`lo` when the tests run as root (see e2e_harness.py and shared/notes/browser-webrtc-testing.md).

Fixtures: `server` (one per session), `cafe` (a fresh café per test), `room` (opens pages
and joins them), `expert_browser` (its fake microphone plays a spoken French WAV) and
`audience_browser`; and for the modules that speak into a café of their own (their
sentences, server and organiser as module attributes), `spoken_speech`, `spoken_server`,
`speaker_browser` and `spoken_room` (see e2e_spoken.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The functional tests' nginx (`nginx_support`: the simulcast test's RTMP ingest), also when
# only the browser tests run.
sys.path.append(str(Path(__file__).resolve().parents[1] / "functional"))
from e2e_harness import CHROMIUM_FLAGS, Cafe, Namespace, Server, speech_wav
from e2e_pages import Room, room_telling_on_failure
from e2e_spoken import (  # noqa: F401 (fixtures, shared here with every module)
    speaker_browser,
    spoken_room,
    spoken_server,
    spoken_speech,
)
from playwright.sync_api import Browser, Playwright, sync_playwright

SPEECH = (
    "Bonsoir à toutes et à tous. Ce soir, nous parlons des écrans et des jeux vidéo en ligne. "
    "Les jeux vidéo en ligne permettent de discuter avec des inconnus. "
    "Parlez-en en famille, sans dramatiser, et gardez le téléphone hors de la chambre la nuit."
)


@pytest.fixture(scope="session")
def namespace() -> Iterator[Namespace]:
    ns = Namespace()
    ns.start()
    yield ns
    ns.stop()


@pytest.fixture(scope="session")
def server(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if shutil.which("chromium") is None:
        # make test installs it: a CI run never skips the browser tests silently.
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    if not (Path(__file__).resolve().parents[2] / "node_modules" / "socket.io-client").is_dir():
        pytest.fail("node_modules/socket.io-client is missing: run `npm ci`")
    srv = Server(namespace, tmp_path_factory.mktemp("e2e-data"))
    srv.upgrade()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture()
def cafe(server: Server, request: pytest.FixtureRequest) -> Cafe:
    return server.create_cafe(f"Café {request.node.name}"[:100])


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


def _launch(pw: Playwright, namespace: Namespace, directory: Path,
            extra: tuple[str, ...] = ()) -> Browser:
    return pw.chromium.launch(executable_path=namespace.chromium_executable(directory),
                              headless=True, args=[*CHROMIUM_FLAGS, *extra])


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_wav(tmp_path_factory.mktemp("speech"), SPEECH)


@pytest.fixture(scope="session")
def expert_browser(playwright: Playwright, namespace: Namespace, speech: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    browser = _launch(playwright, namespace, tmp_path_factory.mktemp("chromium-expert"),
                      (f"--use-file-for-fake-audio-capture={speech}%noloop",))
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def audience_browser(playwright: Playwright, namespace: Namespace,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    browser = _launch(playwright, namespace, tmp_path_factory.mktemp("chromium-audience"))
    yield browser
    browser.close()


@pytest.fixture()
def room(server: Server, request: pytest.FixtureRequest) -> Iterator[Room]:
    with room_telling_on_failure(server, request) as opened:
        yield opened


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
