"""An organiser revoking an invitation the way a person does: logged in over HTTP, through
the café's admin page and its form (CSRF token included)."""

from __future__ import annotations

import re

import aiohttp

from server.auth import create_organiser
from sessions.service_cafes import CafeService

PASSWORD = "correct horse battery staple"


async def organiser(cafes: CafeService, email: str = "orga@example.org") -> str:
    await create_organiser(cafes, email, "Orga", PASSWORD)
    return email


async def _csrf(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        html = await response.text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, f"no CSRF token on {url}"
    return found.group(1)


async def revoke_over_http(base_url: str, email: str, slug: str, invitation_id: int) -> None:
    base = base_url.rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        token = await _csrf(session, f"{base}/login")
        async with session.post(f"{base}/login", allow_redirects=False, data={
                "email": email, "password": PASSWORD, "csrf_token": token,
                "next": "/admin"}) as response:
            assert response.status == 303, await response.text()
        page = f"{base}/admin/cafes/{slug}"
        token = await _csrf(session, page)
        async with session.post(f"{page}/invitations/{invitation_id}/revoke",
                                allow_redirects=False, data={"csrf_token": token}) as response:
            assert response.status == 303, await response.text()
