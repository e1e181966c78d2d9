"""The café admin page's simulcast section: add an RTMP(S) destination (URL + stream key,
sealed at once and never shown again in full), remove one, and each destination's status
while the café is live (written by the café's media node, `server.simulcast`)."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server import auth, views_admin
from server.keys import CAFES, CATALOGS, CONFIG
from server.simulcast import DESTINATIONS, STATUS_BOARD, DestinationStatus, retry_in
from server.web_errors import LANG
from sessions.cafe import Cafe, CafeStatus
from sessions.errors import InvalidInput
from signaling.errors import BACKEND_ERRORS

log = logging.getLogger("causerie.simulcast")
routes = web.RouteTableDef()

ERROR_KEY = web.RequestKey("destination_error", str)


@routes.post("/admin/cafes/{slug}/destinations")
async def destination_add(request: web.Request) -> web.StreamResponse:
    _, cafe = await auth.require_cafe_organiser(request, request.app[CAFES])
    form = await views_admin._form(request)
    config = request.app[CONFIG].simulcast
    try:
        await request.app[DESTINATIONS].add(
            cafe.id, views_admin._field(form, "label", 200),
            views_admin._field(form, "url", config.url_max_length),
            views_admin._field(form, "stream_key", config.key_max_length))
    except InvalidInput as exc:
        request[ERROR_KEY] = request.app[CATALOGS].error_message(request[LANG], exc)
        context = await views_admin._edit_context(request, cafe)
        return aiohttp_jinja2.render_template("admin/cafe_form.html", request, context,
                                              status=exc.http_status)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}#simulcast")


@routes.post("/admin/cafes/{slug}/destinations/{destination_id:\\d{1,18}}/delete")
async def destination_remove(request: web.Request) -> web.StreamResponse:
    _, cafe = await auth.require_cafe_organiser(request, request.app[CAFES])
    await views_admin._form(request)
    await request.app[DESTINATIONS].remove(cafe.id, int(request.match_info["destination_id"]))
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}#simulcast")


def status_line(request: web.Request, cafe: Cafe, status: DestinationStatus | None) -> str:
    """One line per destination, in the page's language."""
    t = request.app[CATALOGS].gettext
    lang = request[LANG]
    if cafe.status is not CafeStatus.LIVE:
        return t(lang, "Pushed while the café is live.")
    if status is None:
        return t(lang, "Waiting for the café's video to start.")
    if status.state == "live":
        return t(lang, "Connected.")
    if status.state == "retrying":
        line = t(lang, "Reconnecting in %(seconds)s s.", seconds=retry_in(status, time.time()))
        if status.certificate_refused:
            line += " " + t(lang, "The server's certificate was refused: %(error)s",
                            error=status.error)
        elif status.error:
            line += " " + t(lang, "Error: %(error)s", error=status.error)
        return line
    if status.state == "unreadable":
        return t(lang, "The stream key cannot be read: remove this destination and add it "
                       "again.")
    if status.state == "failed":
        return t(lang, "Error: %(error)s", error=status.error)
    if status.state == "closed":
        return t(lang, "Stopped.")
    return t(lang, "Connecting…")


async def simulcast_section(request: web.Request, cafe: Cafe) -> dict[str, Any]:
    destinations = await request.app[DESTINATIONS].of_cafe(cafe.id)
    statuses: dict[int, DestinationStatus] = {}
    if cafe.status is CafeStatus.LIVE and destinations:
        try:
            statuses = await request.app[STATUS_BOARD].read(cafe.id)
        except BACKEND_ERRORS as exc:  # Redis away: the page still shows the destinations
            log.warning("simulcast statuses unknown cafe=%s: %s", cafe.id,
                        type(exc).__name__)
    config = request.app[CONFIG].simulcast
    rows = [{"destination": d, "state": statuses[d.id].state if d.id in statuses else "",
             "line": status_line(request, cafe, statuses.get(d.id))} for d in destinations]
    return {
        "id": "simulcast",
        "title": request.app[CATALOGS].gettext(request[LANG], "Simulcast"),
        "template": "admin/_simulcast.html",
        "context": {"rows": rows, "error": request.get(ERROR_KEY, ""),
                    "can_add": config.enabled and len(destinations) < config.max_destinations,
                    "max": config.max_destinations},
    }
