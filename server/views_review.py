"""The transcript's review page and its JSON actions: the organiser (logged in) or the café's
own expert (through their invitation link) reads the transcript before it is published,
plays any segment, corrects, splits, joins and redacts segments; the organiser publishes or
withdraws it from the same page.

Who is reviewing is decided here, on every request: an organiser's session, else the
expert invitation this browser opened the page with (kept in its session cookie and checked
again each time, so a revoked link loses its powers at once). The permission table decides
what each may do (`Permission.REVIEW_TRANSCRIPT`, `Permission.PUBLISH_TRANSCRIPT`); actions
need the session's CSRF token in the ``X-CSRF-Token`` header. The actions live in
`transcripts.review_service`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server import auth
from server.keys import CAFES, CATALOGS, CONFIG, DATABASE, SERVICES
from server.web_errors import LANG
from sessions.actors import Actor
from sessions.cafe import Cafe
from sessions.errors import InvalidInput, PermissionDenied
from sessions.roles import Permission, Role
from sessions.storage.tables import participants
from sessions.watchwords import watched_pieces
from transcripts.export import clock, load_transcript, recording_file
from transcripts.review import TEXT_MAX
from transcripts.review_service import EditConflict, ReviewService
from transcripts.web import serve_recording

log = logging.getLogger("causerie.http")
routes = web.RouteTableDef()

REVIEW = web.AppKey("review", ReviewService)
SESSION_INVITES = "review_invitations"  # slug -> the expert's invitation token
BODY_MAX = 16 * 1024
CHARS = Annotated[int, Field(ge=0, le=TEXT_MAX * 2)]
VERSION = Annotated[int, Field(ge=1, le=2**31 - 1)]
SECONDS = Annotated[float, Field(ge=0, le=24 * 3600)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EditBody(_Body):
    version: VERSION
    # Bounded twice: here (the request) and by the pure rules (the cleaned text).
    text: Annotated[str, Field(max_length=TEXT_MAX * 2)] | None = None
    speaker: Annotated[str, Field(max_length=200)] | None = None


class SplitBody(_Body):
    version: VERSION
    at: CHARS


class JoinBody(_Body):
    version: VERSION
    next_id: Annotated[int, Field(ge=1)]
    next_version: VERSION


class RedactBody(_Body):
    version: VERSION
    start: CHARS
    end: CHARS
    audio_start: SECONDS | None = None
    audio_end: SECONDS | None = None


class PublishBody(_Body):
    published: bool
    confirm: bool = False  # publish although parts fell short (PublishUnconfirmed)


async def reviewer(request: web.Request, cafe: Cafe, *, token: str | None = None) -> Actor:
    """The actor reviewing `cafe`, or PermissionDenied: an organiser, else the holder of an
    invitation of this café (its role must allow reviewing)."""
    organiser = await auth.current_organiser(request, request.app[CAFES])
    if organiser is not None and organiser.role_in(cafe.association_id) is Role.ORGANISER:
        return Actor(organiser.id, cafe.id, Role.ORGANISER, organiser.display_name)
    session = await get_session(request)
    invites = session.get(SESSION_INVITES)
    if not isinstance(invites, dict):
        invites = {}
    token = token or invites.get(cafe.slug)
    if not isinstance(token, str) or not token:
        raise PermissionDenied("Log in as an organiser, or open the link of your invitation.")
    invitation_id, role = await request.app[CAFES].check_invitation(cafe.id, token)
    async with request.app[DATABASE].connect() as conn:
        row = (await conn.execute(participants.select().where(
            participants.c.cafe_id == cafe.id,
            participants.c.invitation_id == invitation_id).order_by(
            participants.c.id.desc()).limit(1))).first()
    actor = Actor(row.id if row else 0, cafe.id, role, row.pseudonym if row else role.value)
    actor.require(Permission.REVIEW_TRANSCRIPT)
    if invites.get(cafe.slug) != token:
        session[SESSION_INVITES] = {**invites, cafe.slug: token}
    return actor


@routes.get("/cafes/{slug}/review", name="transcript_review")
async def review_page(request: web.Request) -> web.StreamResponse:
    cafe = await request.app[CAFES].get(request.match_info["slug"][:100])
    invite = request.query.get("invite", "")[:300] or None
    if invite is None and await auth.current_organiser(request, request.app[CAFES]) is None:
        session = await get_session(request)
        if cafe.slug not in (session.get(SESSION_INVITES) or {}):
            raise web.HTTPSeeOther(f"/login?next={request.path}")
    actor = await reviewer(request, cafe, token=invite)
    service = request.app[REVIEW]
    segments = await service.segments(actor)
    transcript = await load_transcript(request.app[DATABASE], cafe.slug, published_only=False)
    data_dir = request.app[CONFIG].data_dir
    has_audio = not transcript.audio_pending and transcript.recording is not None and (
        recording_file(transcript.recording, data_dir) is not None)
    context = {
        "cafe": cafe, "segments": segments, "transcript": transcript, "clock": clock,
        "has_audio": has_audio, "audio_pending": transcript.audio_pending,
        "audio_offset": transcript.recording.offset if transcript.recording else 0.0,
        "can_publish": actor.can(Permission.PUBLISH_TRANSCRIPT),
        "reviewer": actor, "text_max": TEXT_MAX, "api": f"/api/cafes/{cafe.slug}/review",
        # Parents who asked that their stage time be left out of the published transcript.
        "leave_outs": await request.app[SERVICES].cafe_help.leave_out_requests(cafe.id),
        # The café's watched words in each segment, marked (a hint for what to redact).
        "watched": watched_pieces(await request.app[SERVICES].watch.matcher(cafe.id),
                                  [(seg.id, seg.text) for seg in segments]),
    }
    response = aiohttp_jinja2.render_template("review.html", request, context)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/cafes/{slug}/review/recording", name="transcript_review_recording")
async def review_recording(request: web.Request) -> web.StreamResponse:
    cafe = await request.app[CAFES].get(request.match_info["slug"][:100])
    await reviewer(request, cafe)
    transcript = await load_transcript(request.app[DATABASE], cafe.slug, published_only=False)
    return serve_recording(transcript, request.app[CONFIG].data_dir)


async def _action(request: web.Request, model: type[BaseModel]) -> tuple[Actor, Any]:
    """The reviewer and the parsed body of a JSON action (CSRF checked first)."""
    await auth.check_csrf(request, request.headers.get("X-CSRF-Token"))
    cafe = await request.app[CAFES].get(request.match_info["slug"][:100])
    actor = await reviewer(request, cafe)
    if request.content_length is None or request.content_length > BODY_MAX:
        raise InvalidInput("This request is too large.")
    try:
        body = model.model_validate(json.loads(await request.text()))
    except (ValueError, ValidationError) as exc:
        log.info("review action refused cafe=%s: %s", cafe.id, type(exc).__name__)
        raise InvalidInput("This request is not valid.") from None
    return actor, body


def _segment_id(request: web.Request) -> int:
    return int(request.match_info["segment_id"])


async def _answer(request: web.Request, run: Any) -> web.Response:
    try:
        change = await run
    except EditConflict as exc:
        message = request.app[CATALOGS].error_message(request[LANG], exc)
        return web.json_response({"ok": False, "error": {"code": exc.code, "message": message},
                                  "segments": [s.to_json() for s in exc.current]},
                                 status=exc.http_status)
    return web.json_response(change.to_json())


@routes.post("/api/cafes/{slug}/review/segments/{segment_id:\\d{1,12}}")
async def edit_segment(request: web.Request) -> web.Response:
    actor, body = await _action(request, EditBody)
    return await _answer(request, request.app[REVIEW].edit(
        actor, _segment_id(request), body.version, text=body.text, speaker=body.speaker))


@routes.post("/api/cafes/{slug}/review/segments/{segment_id:\\d{1,12}}/split")
async def split_segment(request: web.Request) -> web.Response:
    actor, body = await _action(request, SplitBody)
    return await _answer(request, request.app[REVIEW].split(
        actor, _segment_id(request), body.version, body.at))


@routes.post("/api/cafes/{slug}/review/segments/{segment_id:\\d{1,12}}/join")
async def join_segments(request: web.Request) -> web.Response:
    actor, body = await _action(request, JoinBody)
    return await _answer(request, request.app[REVIEW].join(
        actor, _segment_id(request), body.version, body.next_id, body.next_version))


@routes.post("/api/cafes/{slug}/review/segments/{segment_id:\\d{1,12}}/redact")
async def redact_segment(request: web.Request) -> web.Response:
    actor, body = await _action(request, RedactBody)
    audio = None
    if body.audio_start is not None or body.audio_end is not None:
        if body.audio_start is None or body.audio_end is None:
            raise InvalidInput("This request is not valid.")
        audio = (body.audio_start, body.audio_end)
    return await _answer(request, request.app[REVIEW].redact(
        actor, _segment_id(request), body.version, body.start, body.end, audio))


@routes.post("/api/cafes/{slug}/review/participants/{participant_id:\\d{1,12}}/redact")
async def redact_participant(request: web.Request) -> web.Response:
    """Every segment one participant spoke, redacted at once (a leave-out request)."""
    actor, _body = await _action(request, _Body)
    return await _answer(request, request.app[REVIEW].redact_participant(
        actor, int(request.match_info["participant_id"])))


@routes.post("/api/cafes/{slug}/review/publish")
async def publish(request: web.Request) -> web.Response:
    actor, body = await _action(request, PublishBody)
    published = await request.app[REVIEW].set_published(actor, body.published, body.confirm)
    return web.json_response({"ok": True, "published": published})


async def review_lifetime(app: web.Application) -> AsyncIterator[None]:
    """The review service, on the app's database (after `_database` in cleanup_ctx)."""
    config = app[CONFIG]
    service = ReviewService(app[DATABASE], app[CAFES].clock.now,
                            replay_dir=config.data_dir / "recordings", data_dir=config.data_dir)
    app[REVIEW] = service
    yield
