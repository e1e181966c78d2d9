"""Property-based fuzzing (hypothesis) of every HTTP form and query string (issue 8's
standing check): whatever is sent, the answer is never a 500, the server logs no traceback
or error, and a refused input stores nothing.

One real app and one logged-in client serve all the examples of a test (hypothesis reruns
the body; the app's state carries over, which is why each example compares the database
before and after itself). Example counts are small and fixed so the whole file stays under
a minute or two on a loaded machine; in CI the examples are derandomised (the same ones every
run), locally they vary.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from log_support import ServerErrors, capture_server_errors
from page_support import Client, csrf, login, make_cafe
from review_support import ReviewCafe, ended_cafe

from server.app import create_app
from server.config import load_config
from server.keys import CAFES
from sessions.clock import FixedClock
from sessions.help_settings import HELP_LINES_MAX, HelpSettings
from sessions.storage.tables import (
    associations,
    audit_log,
    cafe_help,
    cafes,
    chat_messages,
    invitations,
    login_sessions,
    organisers,
    participants,
    questions,
    recordings,
    reports,
    rtmp_destinations,
    segments,
    stage_state,
    transcript_jobs,
    votes,
    watch_lists,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=timedelta(seconds=15), derandomize=IN_CI,
        database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                               HealthCheck.too_slow])


# Any text, and text shaped like what the field expects (so examples get past the first
# check and reach the deeper ones).
junk = st.text(max_size=300)
big = st.text(min_size=4000, max_size=6000, alphabet=st.characters(codec="utf-8"))
dates = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:30", "0001-01-01T00:00", "2026-12-01T20:00",
                     "2026-12-01T20:00+14:00", "9999-12-31T23:59-12:00", ""]),
    junk,
)
numbers = st.one_of(st.integers(-10**30, 10**30).map(str), junk)
day = st.one_of(st.dates().map(str), st.sampled_from(["9999-12-31", "0001-01-01"]), junk)
# Redirect targets a browser reads as another site once tabs and newlines are dropped.
hostile_next = st.sampled_from(["/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
                                "//evil.example", "\\\\evil.example", "/\\evil.example",
                                "https:evil.example", "javascript:alert(1)"])
targets = st.one_of(junk, hostile_next, st.tuples(hostile_next, junk).map("".join))
field_value = st.one_of(junk, big, st.sampled_from(["", " ", "\x00", "\u2028", "é" * 161]))


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    with capture_server_errors() as errors:
        yield errors


async def snapshot(app: web.Application) -> dict[str, list[Any]]:
    """Every row a form can change."""
    async with app[CAFES].db.connect() as conn:
        return {table.name: [tuple(r) for r in await conn.execute(
            sa.select(table).order_by(*table.primary_key.columns))]
            for table in (cafes, invitations, organisers, login_sessions, watch_lists,
                          cafe_help, rtmp_destinations, associations)}


def check(status: int, allowed: set[int], errors: ServerErrors, what: object) -> None:
    assert status < 500, (status, what)
    assert status in allowed, (status, what)
    assert not (logged := errors.take()), (logged, what)


def form_of(valid: dict[str, str], fuzzed: dict[str, st.SearchStrategy[str]]
            ) -> st.SearchStrategy[dict[str, str]]:
    """A valid form with some of its fields replaced by fuzz."""
    return st.fixed_dictionaries({}, optional=fuzzed).map(lambda d: {**valid, **d})


async def post_form(client: Client, app: web.Application, errors: ServerErrors, path: str,
                    data: dict[str, str] | aiohttp.FormData, allowed: set[int],
                    what: object, *, says_why: bool = True) -> aiohttp.ClientResponse:
    """POST a form (redirects not followed): the answer is one of `allowed`, never a 500,
    with nothing logged; anything but a 303 stores nothing, and a 400 says why (in an
    alert, unless not `says_why`)."""
    before = await snapshot(app)
    response = await client.post(path, data=data, allow_redirects=False)
    check(response.status, allowed, errors, what)
    if response.status != 303:
        assert await snapshot(app) == before, what
    if response.status == 400 and says_why:
        assert re.search(r'<p (class="error" )?role="alert"[^>]*>[^<]+<',
                         await response.text()), what
    return response


@pytest.fixture
async def organiser(client: Client, app: web.Application, clock: FixedClock) -> str:
    """A logged-in client and one café (its slug)."""
    await login(client, app)
    return await make_cafe(app, clock, "Écrans et sommeil")


@fuzz(60)
@given(code=st.one_of(st.sampled_from(["fr", "en"]), junk), target=targets,
       theme=junk, invite=junk, saved=junk)
async def test_query_strings(client: Client, organiser: str, server_errors: ServerErrors,
                             app: web.Application, code: str, target: str, theme: str,
                             invite: str, saved: str) -> None:
    before = await snapshot(app)
    association = (await app[CAFES].associations.first()).slug
    switched = await client.get(f"/lang/{quote(code, safe='')}",
                                params={"next": target}, allow_redirects=False)
    check(switched.status, {303, 404}, server_errors, (code, target))
    if switched.status == 303:
        location = switched.headers["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    for path, params in (("/", {"theme": theme}), ("/", {"association": theme}),
                         (f"/cafes/{organiser}", {"invite": invite}),
                         ("/login", {"next": target}), ("/admin", {"saved": saved}),
                         (f"/admin/cafes/{organiser}", {"saved": saved}),
                         ("/admin/password", {"x": saved}),
                         (f"/admin/associations/{association}/watched-words",
                          {"saved": saved}),
                         (f"/cafes/{organiser}/privacy", {"x": saved}),
                         (f"/admin/cafes/{organiser}/help", {"saved": saved})):
        response = await client.get(path, params=params, allow_redirects=False)
        check(response.status, {200}, server_errors, (path, params))
    assert await snapshot(app) == before


@fuzz(60)
@given(q=st.one_of(junk, st.sampled_from(["écrans", '"jeux vidéo"', "harc*"])),
       theme=junk, cafe=junk, association=junk, date_from=day, date_to=day, limit=numbers,
       offset=numbers)
async def test_search(client: Client, server_errors: ServerErrors, app: web.Application,
                      q: str, theme: str, cafe: str, association: str, date_from: str,
                      date_to: str, limit: str, offset: str) -> None:
    params = {"q": q, "theme": theme, "cafe": cafe, "association": association,
              "from": date_from, "to": date_to, "limit": limit, "offset": offset}
    for path in ("/api/search", "/search"):
        response = await client.get(path, params=params)
        check(response.status, {200, 400}, server_errors, (path, params))
        if path == "/api/search":
            body = await response.json()
            assert ("error" in body) == (response.status == 400)


CAFE_FIELDS = ("title", "description", "theme", "language", "starts_at", "duration_minutes",
               "glossary")
VALID = {"title": "Un café", "description": "", "theme": "screens", "language": "fr",
         "starts_at": "2026-12-01T20:00", "duration_minutes": "60", "glossary": ""}


def cafe_form() -> st.SearchStrategy[dict[str, str]]:
    """A valid form with some fields replaced by fuzz."""
    replacements = {"title": field_value, "description": field_value,
                    "theme": st.one_of(field_value, st.sampled_from(["screens", "a-b c"])),
                    "language": st.one_of(st.sampled_from(["fr", "en", "de"]), junk),
                    "starts_at": dates, "duration_minutes": numbers, "glossary": field_value}
    return form_of(VALID, replacements)


@fuzz(50)
@given(form=cafe_form())
async def test_cafe_create_form(client: Client, organiser: str, server_errors: ServerErrors,
                                app: web.Application, form: dict[str, str]) -> None:
    token = await csrf(client, "/admin/cafes/new")
    response = await post_form(client, app, server_errors, "/admin/cafes/new",
                               {**form, "csrf_token": token}, {303, 400}, form)
    if response.status == 303:  # what was accepted renders everywhere it is listed
        for path in ("/", response.headers["Location"], "/admin"):
            page = await client.get(path.replace("/admin/cafes/", "/cafes/", 1))
            check(page.status, {200}, server_errors, (path, form))
            check((await client.get(path)).status, {200}, server_errors, (path, form))


@fuzz(50)
@given(form=cafe_form(), ended=st.booleans())
# Found by this test: a refused edit of an ended café rendered the page's transcript
# section without its publishing state (a 500, jinja's undefined `confirm_publish`).
@example(form={**VALID, "title": ""}, ended=True)
async def test_cafe_edit_form(client: Client, organiser: str, server_errors: ServerErrors,
                              app: web.Application, form: dict[str, str],
                              ended: bool) -> None:
    async with app[CAFES].db.transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.slug == organiser).values(
            status="ended" if ended else "scheduled"))
    path = f"/admin/cafes/{organiser}"
    token = await csrf(client, path)
    response = await post_form(client, app, server_errors, path,
                               {**form, "csrf_token": token}, {303, 400}, form)
    if response.status == 303:
        assert not ended


@fuzz(40)
@given(role=st.one_of(st.sampled_from(["expert", "moderator", "organiser", "participant"]),
                      junk),
       invitation=st.one_of(st.integers(-1, 10**25).map(str), junk),
       publish=st.one_of(st.sampled_from(["0", "1"]), junk),
       csrf_ok=st.booleans())
async def test_invitation_and_transcript_forms(
    client: Client, organiser: str, server_errors: ServerErrors, app: web.Application,
    role: str, invitation: str, publish: str, csrf_ok: bool,
) -> None:
    base = f"/admin/cafes/{organiser}"
    token = await csrf(client, base) if csrf_ok else "stale"
    refused = {403} if not csrf_ok else set()
    await post_form(client, app, server_errors, f"{base}/invitations",
                    {"role": role, "csrf_token": token}, {303, 400} | refused, role)
    await post_form(client, app, server_errors,
                    f"{base}/invitations/{quote(invitation, safe='')}/revoke",
                    {"csrf_token": token}, {303, 404, 405} | refused, invitation)
    await post_form(client, app, server_errors, f"{base}/transcript",
                    {"publish": publish, "csrf_token": token}, {303, 400, 409} | refused, publish)


@fuzz(12)
@given(email=st.one_of(st.just("orga@example.org"), junk), password=junk, target=targets,
       current=junk, new=st.one_of(junk, big))
async def test_login_and_password_forms(
    client: Client, organiser: str, server_errors: ServerErrors, app: web.Application,
    email: str, password: str, target: str, current: str, new: str,
) -> None:
    # Few examples: each one hashes with argon2, slow on purpose.
    before = await snapshot(app)
    changed = await client.post("/admin/password", data={
        "current": current, "new": new, "csrf_token": await csrf(client, "/admin/password")},
        allow_redirects=False)
    check(changed.status, {400, 403, 429}, server_errors, (current, new))
    assert await snapshot(app) == before
    token = await csrf(client, "/login")
    response = await client.post("/login", data={
        "email": email, "password": password, "next": target, "csrf_token": token},
        allow_redirects=False)
    check(response.status, {401, 429}, server_errors, (email, target))
    assert await snapshot(app) == before


watch_line = st.one_of(junk, st.sampled_from(["idiot", "crétin | block", "@telephone | flag",
                                              "@numero", "x | peut-être", "!!!", "# note"]))
watch_body = st.one_of(st.lists(watch_line, max_size=12).map("\n".join), big,
                       st.integers(0, 400).map(lambda n: "\n".join(f"mot{i}" for i in range(n))))


@fuzz(40)
@given(body=watch_body, upload=st.one_of(st.none(), st.binary(max_size=300),
                                         watch_body.map(str.encode)),
       default=st.booleans(), csrf_ok=st.booleans())
async def test_watched_word_forms(
    client: Client, organiser: str, server_errors: ServerErrors, app: web.Application,
    body: str, upload: bytes | None, default: bool, csrf_ok: bool,
) -> None:
    association = (await app[CAFES].associations.first()).slug
    path = (f"/admin/associations/{association}/watched-words" if default
            else f"/admin/cafes/{organiser}/watched-words")
    token = await csrf(client, path) if csrf_ok else "stale"
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("body", body)
    if upload is not None:
        form.add_field("file", upload, filename="mots.txt", content_type="text/plain")
    response = await post_form(client, app, server_errors, path, form,
                               {303, 400} | (set() if csrf_ok else {403}), body)
    if response.status == 303:
        check((await client.get(path)).status, {200}, server_errors, body)
phoneish = st.one_of(st.sampled_from(["3018", "119", "+33 1 23 45 67 89", "0 800-05.12"]),
                     st.text(alphabet="0123456789 .-+()", max_size=30), junk)
help_text = st.one_of(st.sampled_from(["", " ", "\x00", "\u2028", "é" * 121, "Aide"]),
                      st.text(max_size=130))
help_fields = {f"{name}_{i}": (phoneish if name == "number" else help_text)
               for i in range(HELP_LINES_MAX) for name in ("number", "fr", "en")}


@fuzz(40)
@given(form=form_of({}, {**help_fields, "privacy_fr": field_value, "privacy_en": junk,
                        "use_default": st.one_of(st.sampled_from(["1", "0"]), junk)}))
async def test_cafe_help_form(client: Client, organiser: str, server_errors: ServerErrors,
                                 app: web.Application, form: dict[str, str]) -> None:
    """Help numbers and privacy notice: refused with a message and nothing stored, or
    stored as a valid value that every page of the café renders."""
    path = f"/admin/cafes/{organiser}/help"
    token = await csrf(client, path)
    response = await post_form(client, app, server_errors, path,
                               {**form, "csrf_token": token}, {303, 400}, form)
    if response.status == 400:
        return
    async with app[CAFES].db.connect() as conn:
        lines = await conn.scalar(sa.select(cafe_help.c.help_lines))
    if lines is not None:
        assert 1 <= len(HelpSettings.from_json(lines).lines) <= HELP_LINES_MAX
    for page in (f"/cafes/{organiser}", f"/cafes/{organiser}/privacy", path):
        check((await client.get(page)).status, {200}, server_errors, (page, form))


rtmp_url = st.one_of(junk, st.sampled_from(["é" * 4000,
    "rtmp://127.0.0.1/live", "rtmps://a.rtmp.youtube.com/live2", "rtmp://", "rtmp://:0/x",
    "rtmp://[::1/x", "rtmp://u:p@h/x", "http://h/x", "rtmp://h/x\x00", "rtmp://h/" + "a" * 400]))


@fuzz(40)
@given(label=st.one_of(junk, st.sampled_from(["", " ", "\x00", "é" * 4000])), url=rtmp_url,
       key=st.one_of(junk, st.sampled_from(["k-9Z7Q", "k" * 4000, "a b", "a/b"])),
       destination=junk, csrf_ok=st.booleans())
async def test_simulcast_destination_forms(
    client: Client, organiser: str, server_errors: ServerErrors, app: web.Application,
    label: str, url: str, key: str, destination: str, csrf_ok: bool,
) -> None:
    base = f"/admin/cafes/{organiser}"
    token = await csrf(client, base) if csrf_ok else "stale"
    refused = set() if csrf_ok else {403}
    added = await post_form(client, app, server_errors, f"{base}/destinations", {
        "label": label, "url": url, "stream_key": key, "csrf_token": token},
        # a café without invitations (this one) shows its sections too, and the alert
        {303, 400} | refused, (label, url))
    if added.status != 303 and key == "k-9Z7Q":  # a refused form does not show the key back
        assert key not in await added.text()
    await post_form(client, app, server_errors,
                    f"{base}/destinations/{quote(destination, safe='')}/delete",
                    {"csrf_token": token}, {303, 404, 405} | refused, destination)


ASSOCIATION = {"name": "Une association", "description": "", "website": "", "colour": "",
               "help_numbers": ""}


@fuzz(40)
@given(form=form_of(ASSOCIATION, {
    "name": field_value, "description": field_value,
    "website": st.one_of(field_value, st.sampled_from(["https://a.example", "javascript:x"])),
    "colour": st.one_of(st.sampled_from(["#aa3355", "red", "#AA3355", ""]), junk),
    "help_numbers": field_value}))
async def test_association_profile_form(client: Client, organiser: str,
                                        server_errors: ServerErrors, app: web.Application,
                                        form: dict[str, str]) -> None:
    """(Issue 12.) The profile of the organiser's own association: refused with a message
    and nothing stored, or stored and shown on its public page."""
    slug = (await app[CAFES].associations.first()).slug
    path = f"/admin/associations/{slug}"
    token = await csrf(client, path)
    response = await post_form(client, app, server_errors, path,
                               {**form, "csrf_token": token}, {303, 400}, form)
    if response.status == 303:
        for page in (f"/associations/{slug}", "/", f"/cafes/{organiser}", path):
            check((await client.get(page)).status, {200}, server_errors, (page, form))


@fuzz(30)
@given(token=st.one_of(junk, st.text(min_size=300, max_size=500)), name=field_value,
       email=st.one_of(junk, st.sampled_from(["a@b.example", "@", ""])), password=junk)
async def test_organiser_join_form(client: Client, server_errors: ServerErrors,
                                   app: web.Application, token: str, name: str, email: str,
                                   password: str) -> None:
    """(Issue 12.) A forged or damaged organiser invitation opens nothing."""
    before = await snapshot(app)
    shown = await client.get("/organisers/join", params={"token": token})
    check(shown.status, {403}, server_errors, token)
    form_token = await csrf(client, "/login")
    sent = await client.post("/organisers/join", data={
        "csrf_token": form_token, "token": token, "name": name, "email": email,
        "password": password}, allow_redirects=False)
    check(sent.status, {400, 403}, server_errors, token)
    assert await snapshot(app) == before


# --- retention and erasure (issue 11, point 5), on SQLite and PostgreSQL --------------------

RETAINED = (cafes, participants, questions, chat_messages, votes, recordings, segments,
            transcript_jobs, audit_log, reports, stage_state)


async def retained(app: web.Application) -> dict[str, list[Any]]:
    """Every row the retention forms can change or delete."""
    async with app[CAFES].db.connect() as conn:
        return {table.name: [tuple(r) for r in await conn.execute(
            sa.select(table).order_by(*table.primary_key.columns))] for table in RETAINED}


@pytest.fixture
def stored_app(tmp_path: Path, database_url: str, clock: FixedClock) -> web.Application:
    """The app on SQLite, then on PostgreSQL (what the retention forms delete is stored)."""
    config = load_config(data_dir=tmp_path / "var", database_url=database_url,
                         secret_key="fuzz-secret-key-0123456789-abcdefghij",
                         retention={"enabled": False})
    return create_app(config, clock=clock)


@pytest.fixture
async def ended(aiohttp_client: Any, stored_app: web.Application, clock: FixedClock,
                tmp_path: Path) -> tuple[Client, ReviewCafe]:
    """A logged-in organiser and an ended café with a recording, a transcript and a parent
    who asked, chatted and was reported."""
    client: Client = await aiohttp_client(stored_app)
    await login(client, stored_app)
    cafe = await ended_cafe(stored_app, clock, tmp_path / "var" / "recordings" / "parts")
    now = clock.now()
    async with stored_app[CAFES].db.transaction() as conn:
        for pseudonym, key in (("Marie Dupont", "m"), ("marie dupont", "n"), ("Paul", "p")):
            pid = (await conn.execute(participants.insert().values(
                cafe_id=cafe.cafe_id, pseudonym=pseudonym, role="participant",
                browser_key=key * 32, joined_at=now))).inserted_primary_key
            assert pid is not None
            await conn.execute(questions.insert().values(
                cafe_id=cafe.cafe_id, author_id=pid[0], text=f"Question de {pseudonym}",
                original_text="?", status="approved", created_at=now, updated_at=now))
            await conn.execute(chat_messages.insert().values(
                cafe_id=cafe.cafe_id, author_id=pid[0], text="Bonsoir", created_at=now))
    return client, cafe


pseudonym_value = st.one_of(
    field_value, st.sampled_from(["Marie Dupont", "MARIE DUPONT", "Marie\x00Dupont",
                                  "\x00", "Paul", "Pa\u0301ul", "Inconnu", "Marie Dupont ",
                                  "é" * 80, "é" * 81, "\u2028"]))
flag_value = st.one_of(st.sampled_from(["1", "0", "", "on", "1 ", "１"]), junk)
days_value = st.one_of(
    st.integers(-10, 4000).map(str),
    st.sampled_from(["", " 30 ", "30.5", "1e3", "3_0", "٣٠", "0x1e", "+7", "-0",
                     "9" * 30, "\x00", "30\x00", "3650", "3651", "1"]),
    junk)


@fuzz(30)
@given(days=days_value, csrf_ok=st.booleans())
# Found by this test: the field was cut to 11 characters before it was read, so a value
# whose junk came after ten spaces was stored as the number before them (1 day).
@example(days="1" + " " * 10 + "semaines", csrf_ok=True)
@example(days="3_0", csrf_ok=True)  # int() reads "3_0" as 30, and "٣٠" too: not digits
@example(days="٣٠", csrf_ok=True)
async def test_retention_period_form(ended: tuple[Client, ReviewCafe],
                                     stored_app: web.Application, server_errors: ServerErrors,
                                     days: str, csrf_ok: bool) -> None:
    """A period out of bounds, not a whole number or sent without the form's token is
    refused with a message, and the stored period stays."""
    client, cafe = ended
    path = f"/admin/cafes/{cafe.slug}"
    token = await csrf(client, path) if csrf_ok else "stale"
    before = await retained(stored_app)
    response = await client.post(f"{path}/retention", data={"days": days, "csrf_token": token},
                                 allow_redirects=False)
    check(response.status, {303, 400} | (set() if csrf_ok else {403}), server_errors, days)
    if response.status != 303:
        assert await retained(stored_app) == before
        if response.status == 400:
            assert re.search(r'role="alert"[^>]*>[^<]+<', await response.text())
        return
    async with stored_app[CAFES].db.connect() as conn:
        stored = await conn.scalar(sa.select(cafes.c.recording_retention_days).where(
            cafes.c.id == cafe.cafe_id))
    assert stored == int(days) and 1 <= stored <= 3650
    check((await client.get(path)).status, {200}, server_errors, days)


@fuzz(30)
@given(pseudonym=pseudonym_value, confirm=flag_value, delete=flag_value,
       csrf_ok=st.booleans())
async def test_erase_and_delete_recordings_forms(
    ended: tuple[Client, ReviewCafe], stored_app: web.Application,
    server_errors: ServerErrors, pseudonym: str, confirm: str, delete: str, csrf_ok: bool,
) -> None:
    """Erasing a participant by pseudonym (a preview, then confirmed) and deleting the
    recordings now: refused inputs change nothing; a preview changes nothing either."""
    client, cafe = ended
    path = f"/admin/cafes/{cafe.slug}"
    token = await csrf(client, path) if csrf_ok else "stale"
    refused = set() if csrf_ok else {403}
    before = await retained(stored_app)
    erased = await client.post(f"{path}/erase", data={
        "pseudonym": pseudonym, "confirm": confirm, "csrf_token": token},
        allow_redirects=False)
    check(erased.status, {200, 303, 400, 404} | refused, server_errors, (pseudonym, confirm))
    if erased.status != 303:  # refused, or only the preview
        assert await retained(stored_app) == before, (pseudonym, confirm)
    if erased.status in (400, 404):
        assert re.search(r'role="alert"[^>]*>[^<]+<', await erased.text())
    before = await retained(stored_app)
    deleted = await client.post(f"{path}/recordings/delete", data={
        "confirm": delete, "csrf_token": token}, allow_redirects=False)
    check(deleted.status, {303, 400} | refused, server_errors, delete)
    if deleted.status != 303:
        assert await retained(stored_app) == before, delete
    check((await client.get(path)).status, {200}, server_errors, (pseudonym, delete))


publish_body = st.one_of(
    st.fixed_dictionaries({"published": st.one_of(st.booleans(), junk, st.integers()),
                           "confirm": st.one_of(st.booleans(), junk, st.none())}),
    st.dictionaries(junk, st.one_of(junk, st.booleans(), st.none()), max_size=3),
    st.lists(st.booleans(), max_size=2), junk, st.none())


@fuzz(30)
@given(form=flag_value, body=publish_body, raw=st.one_of(st.none(), junk, big),
       csrf_ok=st.booleans())
# Found by this test: any value but "1" (a damaged form, "oui") withdrew a published
# transcript; only "0" and "1" are read now, anything else is refused.
@example(form="oui", body={"published": True}, raw=None, csrf_ok=True)
async def test_withdraw_transcript_forms(
    ended: tuple[Client, ReviewCafe], stored_app: web.Application,
    server_errors: ServerErrors, form: str, body: Any, raw: str | None, csrf_ok: bool,
) -> None:
    """Withdrawing (or publishing) the transcript from the admin page and from the review
    page's API: a 4xx and nothing stored, or done."""
    client, cafe = ended
    path = f"/admin/cafes/{cafe.slug}"
    token = await csrf(client, path) if csrf_ok else "stale"
    refused = set() if csrf_ok else {403}
    before = await retained(stored_app)
    response = await client.post(f"{path}/transcript", data={
        "publish": form, "csrf_token": token}, allow_redirects=False)
    check(response.status, {303, 400} | refused, server_errors, form)
    if response.status != 303:
        assert await retained(stored_app) == before
        if response.status == 400:
            assert re.search(r'role="alert"[^>]*>[^<]+<', await response.text())
    else:
        assert form in ("0", "1"), form
    before = await retained(stored_app)
    sent = json.dumps(body) if raw is None else raw
    api = await client.post(f"/api/cafes/{cafe.slug}/review/publish", data=sent.encode(),
                            headers={"X-CSRF-Token": token,
                                     "Content-Type": "application/json"})
    check(api.status, {200, 400, 409} | refused, server_errors, sent[:200])
    answer = await api.json()
    if api.status == 200:
        assert answer["ok"] is True, answer
    else:
        assert answer["error"]["message"], answer
        assert await retained(stored_app) == before, sent[:200]
