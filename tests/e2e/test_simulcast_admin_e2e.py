"""The café's simulcast section in Chromium, against a real `causerie serve` and a real
nginx-rtmp on loopback (both in the browser tests' network namespace).

The organiser adds a destination (server address and stream key): the key is shown masked,
never again in full, also not in the page's source. Bad input through the page gets a clear
French message each (not an rtmp address, a too-long address, one destination too many from
a second tab). While the café is live (the expert in Chromium, camera and microphone) the
status line says the push is connected; nginx stopped, it says it reconnects (the wait
doubling); nginx back, connected again; then the organiser removes the destination. No
stream key typed in this scenario is in the server's log (at DEBUG).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import Namespace, Server
from e2e_pages import Room, go_live, log_in, open_cafe, room_telling_on_failure
from nginx_support import Nginx, free_port, nginx_binary, rtmp_ingest
from playwright.sync_api import Browser, Locator, Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ORGANISER = ("diffusion@example.org", "Organisatrice", "mot-de-passe-de-test-42")
KEY = "live-key-Xb7q-2wP9-RtZk"
OTHER_KEY = "second-key-M4n8-Vv31"
TYPED_KEYS = ("refused-key-Hh5u-0001", "refused-key-Hh5u-0002", "refused-key-Hh5u-0003")
MAX_DESTINATIONS = 2
URL_MAX = 80


class SimulcastServer(Server):
    """At most two destinations of at most 80 characters; a quick back-off, at DEBUG."""

    @property
    def env(self) -> dict[str, str]:
        return super().env | {
            "CAUSERIE_LOG_LEVEL": "DEBUG",
            "CAUSERIE_SIMULCAST__MAX_DESTINATIONS": str(MAX_DESTINATIONS),
            "CAUSERIE_SIMULCAST__URL_MAX_LENGTH": str(URL_MAX),
            "CAUSERIE_SIMULCAST__RETRY_MAX_SECONDS": "4",
            "CAUSERIE_SIMULCAST__REFRESH_SECONDS": "0.5",
        }


@pytest.fixture(scope="module")
def simulcast_server(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory,
                     ) -> Iterator[SimulcastServer]:
    srv = SimulcastServer(namespace, tmp_path_factory.mktemp("e2e-simulcast-data"))
    srv.upgrade()
    srv.start()
    srv.create_organiser(*ORGANISER)
    yield srv
    srv.stop()


@pytest.fixture()
def ingest(namespace: Namespace, tmp_path: Path) -> Iterator[tuple[Nginx, int, Path]]:
    nginx_binary()
    port = free_port()
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    nginx = Nginx(tmp_path / "nginx", rtmp=rtmp_ingest(port, recorded), ports=(port,),
                  wrap=namespace.wrap)
    try:
        yield nginx, port, recorded
    finally:
        nginx.stop()


@pytest.fixture()
def simulcast_room(simulcast_server: SimulcastServer, request: pytest.FixtureRequest,
                   ) -> Iterator[Room]:
    with room_telling_on_failure(simulcast_server, request, log_lines=120) as opened:
        yield opened


def _admin(browser: Browser, server: Server, slug: str) -> Page:
    page = browser.new_context(locale="fr-FR").new_page()
    email, _, password = ORGANISER
    log_in(page, server.base_url, email, password, f"/admin/cafes/{slug}")
    return page


def _add(page: Page, label: str, url: str, key: str) -> None:
    form = page.locator("#simulcast form[action$='/destinations']")
    form.locator("input[name=label]").fill(label)
    form.locator("input[name=url]").fill(url)
    form.locator("input[name=stream_key]").fill(key)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def _remove(page: Page, label: str) -> None:
    row = page.locator("#simulcast li[data-destination]", has_text=label)
    with page.expect_navigation():
        row.locator("button[type=submit]").click()


def _text(locator: Locator) -> str:
    """What it says, French spacing (no-break spaces before : and inside « ») as spaces."""
    return locator.inner_text().replace("\u00a0", " ").replace("\u202f", " ")


def _error(page: Page) -> str:
    return _text(page.locator("#simulcast .error[role=alert]"))


def _rows(page: Page) -> int:
    return page.locator("#simulcast li[data-destination]").count()


def _status(page: Page, label: str) -> str:
    row = page.locator("#simulcast li[data-destination]", has_text=label)
    return _text(row.locator(".status[role=status]"))


def _status_until(page: Page, label: str, pattern: str, within: float) -> str:
    """The organiser reloads the page until the status line matches ``pattern``."""
    deadline = time.monotonic() + within
    seen: list[str] = []
    while True:
        page.reload()
        line = _status(page, label)
        if not seen or seen[-1] != line:
            seen.append(line)
        if re.fullmatch(pattern, line):
            return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no status {pattern!r} within {within} s: {seen}")
        time.sleep(0.5)


def _never_in_source(page: Page, *keys: str) -> None:
    source = page.content()
    for key in keys:
        assert key not in source, key


def test_organiser_sets_a_destination_and_follows_its_push(
        simulcast_room: Room, simulcast_server: SimulcastServer, expert_browser: Browser,
        audience_browser: Browser, ingest: tuple[Nginx, int, Path]) -> None:
    server = simulcast_server
    nginx, port, recorded = ingest
    cafe = server.create_cafe("Les écrans en direct")
    admin = _admin(audience_browser, server, cafe.slug)
    assert _text(admin.locator("#simulcast .empty")) == "Aucune destination pour l’instant."

    # Bad input, through the form: each a French message, nothing stored, the typed key
    # not sent back.
    _add(admin, "Site", "https://studio.example.org/live", TYPED_KEYS[0])
    assert _error(admin) == "La destination doit être une adresse rtmp:// ou rtmps://."
    long_url = "rtmp://ingest.example.org/" + "a" * URL_MAX
    _add(admin, "Trop long", long_url, TYPED_KEYS[1])
    assert _error(admin) == (f"Le champ « adresse du serveur » est trop long ({URL_MAX} "
                             "caractères au plus).")
    assert _rows(admin) == 0
    _never_in_source(admin, *TYPED_KEYS)

    # The destination: its key masked to its last 4 characters, never in full again.
    url = f"rtmp://127.0.0.1:{port}/live"
    _add(admin, "YouTube", url, KEY)
    row = admin.locator("#simulcast li[data-destination]", has_text="YouTube")
    assert row.locator("code").inner_text() == url
    assert _text(row.locator(".key")) == f"Clé de flux : ••••{KEY[-4:]}"
    assert admin.locator("#simulcast input[name=stream_key]").input_value() == ""
    assert _status(admin, "YouTube") == "Diffusée pendant le direct du café."
    _never_in_source(admin, KEY)

    # One too many: a second tab still shows the form while the first fills the last place.
    other = admin.context.new_page()
    other.goto(f"{server.base_url}/admin/cafes/{cafe.slug}")
    _add(admin, "Facebook", "rtmp://127.0.0.1:9/live", OTHER_KEY)
    assert _rows(admin) == MAX_DESTINATIONS
    assert (_text(admin.locator("#simulcast .hint").last)
            == f"Au plus {MAX_DESTINATIONS} destinations par café.")
    _add(other, "Twitch", "rtmp://127.0.0.1:9/app", TYPED_KEYS[2])
    assert _error(other) == f"Au plus {MAX_DESTINATIONS} destinations par café."
    assert _rows(other) == MAX_DESTINATIONS
    _never_in_source(other, KEY, OTHER_KEY, *TYPED_KEYS)
    other.close()
    # the organiser takes the second one back before the café
    _remove(admin, "Facebook")
    assert _rows(admin) == 1

    # Live: the expert in Chromium, camera and microphone; the push connects.
    nginx.start()
    expert = simulcast_room.open(expert_browser, cafe.expert, "Dr Martin")
    open_cafe(expert)
    go_live(expert)
    _status_until(admin, "YouTube", "Connecté.", 60)
    _never_in_source(admin, KEY)
    recorded_before = sorted(recorded.glob(f"{KEY}*.flv"))
    assert recorded_before, "nginx records the push"

    # nginx goes: the page says it reconnects, the wait doubling; the café goes on.
    time.sleep(3)
    nginx.stop()
    first = _status_until(admin, "YouTube", r"Reconnexion dans \d+ s\.( Erreur : .+)?", 30)
    waits = {int(re.findall(r"\d+", first)[0])}
    deadline = time.monotonic() + 20
    while max(waits) < 4 and time.monotonic() < deadline:  # 1, 2, 4 s: the back-off
        line = _status_until(admin, "YouTube", r"Reconnexion dans \d+ s\..*", 10)
        waits.add(int(re.findall(r"\d+", line)[0]))
    assert max(waits) >= 3, waits
    assert expert.locator('#connection-state[data-state="connected"]').count() == 1

    # nginx back: connected again by itself, and recording again.
    nginx.start()
    _status_until(admin, "YouTube", "Connecté.", 30)
    deadline = time.monotonic() + 10
    while len(sorted(recorded.glob(f"{KEY}*.flv"))) <= len(recorded_before):
        assert time.monotonic() < deadline, "no new recording after the reconnection"
        time.sleep(0.3)

    # Removed: the row goes, the push stops (nginx's recording ends).
    _remove(admin, "YouTube")
    assert _text(admin.locator("#simulcast .empty")) == "Aucune destination pour l’instant."
    _never_in_source(admin, KEY)
    time.sleep(2)  # the media node's next refresh (0.5 s) closes the push
    sizes = {p: p.stat().st_size for p in recorded.glob(f"{KEY}*.flv")}
    time.sleep(3)
    assert {p: p.stat().st_size for p in recorded.glob(f"{KEY}*.flv")} == sizes

    # The stream keys typed in this scenario: in no line of the server's log.
    log = server.log_path.read_text(errors="replace")
    assert "simulcast started" in log and "destination added" in log
    for key in (KEY, OTHER_KEY, *TYPED_KEYS):
        assert key not in log, key
