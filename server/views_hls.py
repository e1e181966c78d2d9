"""The live HLS of a café, served from the data directory while the café is live.

``/cafes/<slug>/live/index.m3u8``: the master playlist (the programme and its captions'
WebVTT rendition), naming the current run's ``<run>/live.m3u8``. Under ``<run>/``: the
media and subtitle playlists (``Cache-Control: max-age=1``: a CDN or nginx in front keeps
them a second at most), the MPEG-TS and WebVTT segments (immutable: a segment's name is
never reused). A café that is not live serves nothing (its segments hold the unredacted
programme: the replay is the transcript page's, once published).

Every viewer asks for the playlist about once a segment and for each segment once, so the
hot path is kept short: the live café by slug from memory (`Broadcasts`), a playlist
re-read only when its file changed, the last segments kept in memory. Another process
(several `causerie serve` behind a proxy, a shared data directory) finds the café through
the database, remembered for a second.
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from server.broadcast import BROADCASTS
from server.keys import CAFES, CATALOGS, CONFIG
from server.web_errors import LANG
from sessions.cafe import CafeStatus
from sessions.errors import NotFound
from signaling.media.hls import master_playlist
from transcripts.video_replay import ProgrammeRuns, programme_folder

__all__ = ["HLS_CACHE", "HlsCache", "routes"]

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
TYPES = {".m3u8": PLAYLIST_TYPE, ".ts": "video/mp2t", ".vtt": "text/vtt; charset=utf-8"}
PLAYLIST_CACHE = "public, max-age=1"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
NAME = re.compile(r"^(live\.m3u8|subs\.m3u8|seg-\d{5,6}\.ts|subs-\d{5,6}\.vtt)$")
RUN = re.compile(r"^r\d{1,4}$")
LOOKUP_TTL = 1.0


@dataclass
class HlsCache:
    """Files served recently: playlists by (mtime, size), segments for good."""

    max_segment_bytes: int = 64 * 1024 * 1024
    playlists: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)
    segments: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    folders: dict[int, str] = field(default_factory=dict)  # café id -> its programme folder
    segment_bytes: int = 0
    requests: int = 0
    # slug -> (expires, café id or None, current run): the café found through the database
    cafes: dict[str, tuple[float, int | None, str]] = field(default_factory=dict)

    def playlist(self, path: str) -> bytes | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        known = self.playlists.get(path)
        if known is not None and known[0] == stat.st_mtime_ns and known[1] == stat.st_size:
            return known[2]
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except OSError:
            return None
        self.playlists[path] = (stat.st_mtime_ns, stat.st_size, body)
        if len(self.playlists) > 1000:
            self.playlists.pop(next(iter(self.playlists)))
        return body

    def segment(self, path: str) -> bytes | None:
        body = self.segments.get(path)
        if body is not None:
            self.segments.move_to_end(path)
            return body
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except OSError:
            return None
        self.segments[path] = body
        self.segment_bytes += len(body)
        while self.segment_bytes > self.max_segment_bytes and self.segments:
            _, old = self.segments.popitem(last=False)
            self.segment_bytes -= len(old)
        return body


HLS_CACHE = web.AppKey("hls_cache", HlsCache)


def _missing() -> web.Response:
    # Not the error page: a player or a CDN must not keep a 404 of a segment still to come.
    return web.Response(status=404, text="not found", headers={"Cache-Control": "no-store"})


async def _live_run(request: web.Request, slug: str) -> tuple[int, str] | None:
    """The live café's id and current run, or None."""
    broadcast = request.app[BROADCASTS].by_slug(slug)
    if broadcast is not None:
        return broadcast.cafe_id, broadcast.run.name
    cache = request.app[HLS_CACHE]
    now = time.monotonic()
    known = cache.cafes.get(slug)
    if known is None or known[0] < now:
        cafe_id: int | None = None
        run = ""
        try:
            cafe = await request.app[CAFES].get(slug)
        except NotFound:
            cafe = None
        if cafe is not None and cafe.status is CafeStatus.LIVE:
            folder = programme_folder(request.app[CONFIG].data_dir, cafe.id)
            runs = ProgrammeRuns(folder).read()
            if runs:
                cafe_id, run = cafe.id, runs[-1].name
        known = (now + LOOKUP_TTL, cafe_id, run)
        cache.cafes[slug] = known
        if len(cache.cafes) > 1000:
            cache.cafes.pop(next(iter(cache.cafes)))
    if known[1] is None:
        return None
    return known[1], known[2]


@routes.get("/cafes/{slug}/live/index.m3u8", name="hls_master")
async def master(request: web.Request) -> web.StreamResponse:
    slug = request.match_info["slug"][:100]
    found = await _live_run(request, slug)
    if found is None:
        return _missing()
    run = found[1]
    config = request.app[CONFIG]
    lang = request.get(LANG, "fr")
    label = request.app[CATALOGS].gettext(lang, "Live captions")
    body = master_playlist(config.broadcast, subtitles=True, language=lang, label=label)
    body = body.replace("live.m3u8", f"{run}/live.m3u8").replace(
        'URI="subs.m3u8"', f'URI="{run}/subs.m3u8"')
    return web.Response(body=body.encode(), content_type=PLAYLIST_TYPE,
                        headers={"Cache-Control": PLAYLIST_CACHE})


@routes.get("/cafes/{slug}/live/{run}/{name}", name="hls_file")
async def file(request: web.Request) -> web.StreamResponse:
    slug = request.match_info["slug"][:100]
    run, name = request.match_info["run"], request.match_info["name"]
    if not RUN.match(run) or not NAME.match(name):
        return _missing()
    found = await _live_run(request, slug)
    if found is None:
        return _missing()
    cafe_id = found[0]
    cache = request.app[HLS_CACHE]
    folder = cache.folders.get(cafe_id)
    if folder is None:
        folder = cache.folders[cafe_id] = str(
            programme_folder(request.app[CONFIG].data_dir, cafe_id))
    path = f"{folder}/{run}/{name}"
    suffix = name[name.rindex("."):]
    body = cache.playlist(path) if suffix == ".m3u8" else cache.segment(path)
    if body is None:
        return _missing()
    return web.Response(body=body, headers={
        "Content-Type": TYPES[suffix],
        "Cache-Control": PLAYLIST_CACHE if suffix == ".m3u8" else SEGMENT_CACHE,
    })


HLS_ROUTES = frozenset({"hls_master", "hls_file"})


@web.middleware
async def fast_path(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The HLS routes skip the app's other middlewares (metrics, locale, sessions, error
    pages): each player asks twice a second, and they never raise (a missing file is a
    plain 404 that is not cached). Counted in `HlsCache.requests`, not in /metrics."""
    route = request.match_info.route
    if route.name in HLS_ROUTES:
        request.app[HLS_CACHE].requests += 1
        return await request.match_info.handler(request)
    return await handler(request)


def setup(app: web.Application) -> None:
    app[HLS_CACHE] = HlsCache()
    app.add_routes(routes)
