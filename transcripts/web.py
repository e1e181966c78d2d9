"""HTTP routes of the transcripts: search (JSON and page), the transcript page, its exports
and the recording behind the player.

``setup_routes(app, DATABASE)`` registers them; the app factory owns the `Database` and
passes the AppKey it keeps it under (``server.keys.DATABASE``), so this package never imports
``server``. Errors are raised as `sessions.errors` subclasses and translated by the edge's
middleware (JSON under ``/api/`` and for ``.json``, a page otherwise). Unpublished
transcripts are `NotFound` everywhere.
"""

from __future__ import annotations

import logging
from datetime import tzinfo
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import sqlalchemy as sa
from aiohttp import web

from sessions.cafe import THEMES
from sessions.errors import Unavailable
from sessions.help_settings import DEFAULT_HELP
from sessions.storage.database import Database
from sessions.storage.repo_help import effective_help
from sessions.storage.tables import associations
from transcripts.export import (
    CONTENT_TYPES,
    FORMATS,
    Transcript,
    TranscriptNotFound,
    clock,
    load_transcript,
    recording_file,
    render,
    to_chapters,
)
from transcripts.repository import TranscriptRepository
from transcripts.search import (
    SearchFilters,
    SearchQueryError,
    SearchResult,
    parse_filters,
    parse_paging,
    search,
)
from transcripts.search_query import MAX_QUERY_LENGTH
from transcripts.video_replay import VideoReplay, VideoReplays

log = logging.getLogger("causerie.transcripts")

AUDIO_TYPES = {
    ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".webm": "audio/webm",
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".flac": "audio/flac",
}


class TranscriptViews:
    def __init__(self, database: web.AppKey[Database], data_dir: Path | None,
                 zone: tzinfo) -> None:
        self.database = database
        self.data_dir = data_dir
        self.zone = zone
        self.videos = VideoReplays(data_dir) if data_dir is not None else None

    async def video(self, request: web.Request, transcript: Transcript) -> VideoReplay | None:
        """The café's video replay, when it exists and silences every redaction (a stale
        one is rebuilt meanwhile: the page plays the audio replay until then)."""
        if self.videos is None or transcript.audio_pending:
            return None
        spans = await TranscriptRepository(self.db(request)).redaction_spans(
            transcript.cafe_id)
        return self.videos.current(transcript.cafe_id, spans)

    def db(self, request: web.Request) -> Database:
        return request.app[self.database]

    async def _search(self, request: web.Request) -> tuple[str, SearchFilters, SearchResult]:
        query = request.query.get("q", "")
        limit, offset = parse_paging(request.query.get("limit"), request.query.get("offset"))
        filters = parse_filters(dict(request.query))
        try:
            result = await search(self.db(request), query, limit, offset, filters)
        except sa.exc.DBAPIError as exc:
            log.exception("search failed")
            raise Unavailable("Search is not available right now.") from exc
        return query, filters, result

    async def api_search(self, request: web.Request) -> web.Response:
        _, _, result = await self._search(request)
        return web.json_response(result.to_json(), headers={"Cache-Control": "no-cache"})

    async def search_page(self, request: web.Request) -> web.Response:
        context: dict[str, Any] = {
            "query": request.query.get("q", "")[:MAX_QUERY_LENGTH],
            "max_query_length": MAX_QUERY_LENGTH,
            "filters": {k: request.query.get(k, "")[:80]
                        for k in ("theme", "cafe", "association", "from", "to")},
            "result": None, "groups": [], "error": None, "clock": clock,
            "prev_url": None, "next_url": None, "themes": THEMES,
            "associations": await _associations(self.db(request)),
        }
        status = 200
        try:
            _, _, result = await self._search(request)
        except SearchQueryError as exc:
            context["error"] = (exc.message, exc.params)
            status = 400
        else:
            context["result"] = result
            context["groups"] = result.by_cafe()
            if result.offset > 0:
                context["prev_url"] = _page_url(request, max(0, result.offset - result.limit))
            if result.has_more:
                context["next_url"] = _page_url(request, result.offset + result.limit)
        return aiohttp_jinja2.render_template("search.html", request, context, status=status)

    async def transcript_page(self, request: web.Request) -> web.Response:
        transcript = await load_transcript(self.db(request), request.match_info["slug"])
        slug = transcript.slug
        has_audio = not transcript.audio_pending and transcript.recording is not None and (
            recording_file(transcript.recording, self.data_dir) is not None)
        video = await self.video(request, transcript)
        context = {
            "transcript": transcript,
            "clock": clock,
            "has_audio": has_audio,
            # The expert's video (the café's programme) instead of the audio-only mix.
            "video_url": f"/cafes/{slug}/replay.mp4" if video else "",
            "video_offset": video.cafe_seconds if video else 0.0,
            "audio_offset": transcript.recording.offset if transcript.recording else 0.0,
            "recording_url": f"/cafes/{slug}/recording",
            "exports": [(fmt, f"/cafes/{slug}/transcript.{fmt}") for fmt in FORMATS],
            "chapters_url": f"/cafes/{slug}/chapters.vtt",
            "audio_pending": transcript.audio_pending,
        }
        async with self.db(request).connect() as conn:
            context["help"] = await effective_help(conn, transcript.cafe_id, DEFAULT_HELP)
        return aiohttp_jinja2.render_template("transcript.html", request, context)

    async def transcript_export(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        transcript = await load_transcript(self.db(request), request.match_info["slug"])
        headers = {"Cache-Control": "no-cache"}
        if request.query.get("download"):
            headers["Content-Disposition"] = (
                f'attachment; filename="{transcript.slug}.{fmt}"')
        return web.Response(text=render(transcript, fmt, self.zone),
                            content_type=CONTENT_TYPES[fmt], charset="utf-8", headers=headers)

    async def chapters(self, request: web.Request) -> web.Response:
        transcript = await load_transcript(self.db(request), request.match_info["slug"])
        return web.Response(text=to_chapters(transcript), content_type="text/vtt",
                            charset="utf-8", headers={"Cache-Control": "no-cache"})

    async def video_replay(self, request: web.Request) -> web.StreamResponse:
        transcript = await load_transcript(self.db(request), request.match_info["slug"])
        if transcript.audio_pending:
            raise Unavailable("The recording is being prepared; try again in a moment.")
        video = await self.video(request, transcript)
        if video is None:
            raise TranscriptNotFound("This recording is not available.")
        # FileResponse answers Range requests: the player seeks without downloading all.
        return web.FileResponse(video.path, headers={"Content-Type": "video/mp4",
                                                     "Cache-Control": "no-cache"})

    async def recording(self, request: web.Request) -> web.StreamResponse:
        transcript = await load_transcript(self.db(request), request.match_info["slug"])
        return serve_recording(transcript, self.data_dir)


def serve_recording(transcript: Transcript, data_dir: Path | None) -> web.StreamResponse:
    """The file behind the player; never while a redaction is not yet silenced in it."""
    if transcript.audio_pending:
        raise Unavailable("The recording is being prepared; try again in a moment.")
    path = None if transcript.recording is None else recording_file(
        transcript.recording, data_dir)
    if path is None:
        raise TranscriptNotFound("This recording is not available.")
    content_type = AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
    # FileResponse answers Range requests: the player can seek without downloading all.
    return web.FileResponse(path, headers={"Content-Type": content_type,
                                           "Cache-Control": "no-cache"})


async def _associations(db: Database) -> list[tuple[str, str]]:
    """(slug, name) of every association, for the search form's filter."""
    async with db.connect() as conn:
        rows = await conn.execute(sa.select(associations.c.slug, associations.c.name)
                                  .order_by(associations.c.name))
        return [(str(slug), str(name)) for slug, name in rows]


def _page_url(request: web.Request, offset: int) -> str:
    return str(request.rel_url.update_query(offset=str(offset)))


def setup_routes(app: web.Application, database: web.AppKey[Database], *,
                 zone: tzinfo, data_dir: Path | None = None) -> None:
    """Register the routes; ``database`` is the key under which the app keeps its
    `Database`, ``zone`` is the cafés' time zone (exports write local times in it),
    ``data_dir`` resolves relative recording paths."""
    views = TranscriptViews(database, data_dir, zone)
    formats = "|".join(FORMATS)
    app.router.add_get("/api/search", views.api_search, name="api_search")
    app.router.add_get("/search", views.search_page, name="search")
    app.router.add_get("/cafes/{slug}/transcript", views.transcript_page, name="transcript")
    app.router.add_get(f"/cafes/{{slug}}/transcript.{{fmt:(?:{formats})}}",
                       views.transcript_export, name="transcript_export")
    app.router.add_get("/cafes/{slug}/recording", views.recording, name="recording")
    app.router.add_get("/cafes/{slug}/replay.mp4", views.video_replay, name="video_replay")
    app.router.add_get("/cafes/{slug}/chapters.vtt", views.chapters, name="chapters")
