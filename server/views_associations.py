"""Public pages of associations: `/associations/<slug>` (its live, upcoming and past cafés),
its logo and its accent colour (a stylesheet: the pages' CSP allows no inline style)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from server import logos
from server.keys import CAFES, CONFIG
from sessions.associations import SLUG_MAX

routes = web.RouteTableDef()


@routes.get("/associations/{slug}", name="association")
@aiohttp_jinja2.template("association.html")
async def association_page(request: web.Request) -> dict[str, object]:
    cafes = request.app[CAFES]
    association = await cafes.associations.get(request.match_info["slug"][:SLUG_MAX])
    return {"association": association,
            "listing": await cafes.portal(association_id=association.id)}


@routes.get("/associations/{slug}/logo", name="association_logo")
async def association_logo(request: web.Request) -> web.Response:
    association = await request.app[CAFES].associations.get(request.match_info["slug"])
    return logos.response(request.app[CONFIG].data_dir, association.logo,
                          association.logo_type)


@routes.get("/associations/{slug}/theme.css", name="association_theme")
async def association_theme(request: web.Request) -> web.Response:
    association = await request.app[CAFES].associations.get(request.match_info["slug"])
    # `colour` is #rrggbb, checked when stored: nothing else can reach this text.
    body = f":root {{ --association-colour: {association.colour}; }}\n"
    return web.Response(text=body, content_type="text/css",
                        headers={"Cache-Control": "public, max-age=60"})
