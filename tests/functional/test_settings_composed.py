"""The running app's users hold the config's own settings objects: the services, the hub,
the programme and the simulcast destinations take their sections as the config holds
them (one shape per setting, `server.config`), nothing rebuilt on the way."""

from __future__ import annotations

from aiohttp import web
from page_support import Client

from server.broadcast import BROADCASTS
from server.keys import CAFES, CONFIG, SERVICES
from server.simulcast import DESTINATIONS
from signaling.keys import HUB


async def test_the_app_hands_each_section_to_its_users_as_it_is(
        client: Client, app: web.Application) -> None:
    assert (await client.get("/")).status == 200  # started: every lifetime has run
    config = app[CONFIG]
    services = app[SERVICES]
    for service in (services.qa, services.stage, services.moderation, services.reports,
                    services.cafes, app[CAFES]):
        assert service.limits is config.limits, service
    assert app[HUB].limits is config.limits
    assert app[BROADCASTS].settings is config.broadcast
    assert app[DESTINATIONS].limits is config.simulcast
