"""Organiser accounts and browser sessions: argon2 password hashes, encrypted session
cookies, CSRF tokens on every form (the login throttle is `server.throttle`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from aiohttp import web
from aiohttp_session import get_session
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from yarl import URL

from server.keys import CLOCK
from server.login_sessions import LOGIN_STORE, ORGANISER, SID, LoginStore, record_key
from sessions import cafe as cafe_rules
from sessions.actors import Account
from sessions.cafe import Cafe
from sessions.errors import InvalidInput, PermissionDenied
from sessions.service_cafes import CafeService, account_of

log = logging.getLogger("causerie.auth")

PASSWORD_MIN, PASSWORD_MAX = 10, 200
SESSION_MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"
_hasher = PasswordHasher()  # stateless parameters, safe to share


# Whoever logs in on the admin pages: an organiser of one association, and/or the platform
# administrator (what each may do: `sessions.roles`, through `Account`).
Organiser = Account


def session_key(secret: str) -> bytes:
    """The 32 raw bytes of the session cookie's Fernet key, derived from the app's secret."""
    return hashlib.sha256(b"session:" + secret.encode()).digest()


def validate_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput("The password must have %(min)s to %(max)s characters.",
                           min=PASSWORD_MIN, max=PASSWORD_MAX)
    return password


def validate_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or "@" not in email or email.startswith("@") or email.endswith("@"):
        raise InvalidInput("This e-mail address is not valid.")
    return email


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow: keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def create_organiser(cafes: CafeService, email: str, display_name: str,
                           password: str, *, association_id: int | None = None,
                           platform_admin: bool = False) -> int:
    """An organiser of `association_id` (None: the first association), or with
    `platform_admin` the platform administrator (of no association)."""
    email = validate_email(email)
    display_name = cafe_rules.clean_text(display_name, field="name", max_length=80)
    password_hash = await hash_password(validate_password(password))
    async with cafes.db.transaction() as conn:
        if await cafes.repo.organiser_by_email(conn, email) is not None:
            raise InvalidInput("An organiser with this e-mail address already exists.")
        if association_id is None and not platform_admin:
            association_id = (await cafes.associations.default(conn)).id
        organiser_id = await cafes.repo.insert_organiser(
            conn, email, display_name, password_hash, cafes.clock.now(),
            association_id=association_id, platform_admin=platform_admin)
    log.info("organiser created organiser=%s", organiser_id)
    return organiser_id


async def authenticate(cafes: CafeService, email: str, password: str) -> Organiser | None:
    async with cafes.db.connect() as conn:
        row = await cafes.repo.organiser_by_email(conn, email.strip().lower()[:254])
    if row is None:
        # Spend the same time as a real check, so timing does not reveal the address.
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return None
    if not await asyncio.to_thread(_verify, row["password_hash"], password[:PASSWORD_MAX]):
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        new_hash = await hash_password(password)
        async with cafes.db.transaction() as conn:
            await cafes.repo.set_password_hash(conn, row["id"], new_hash)
    return account_of(row)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("causerie-timing-equaliser")


async def current_organiser(request: web.Request, cafes: CafeService) -> Organiser | None:
    session = await get_session(request)
    # RevocableCookieStorage has already dropped a logged-out or revoked login.
    organiser_id = session.get(ORGANISER)
    if not isinstance(organiser_id, int):
        return None
    return await cafes.account(organiser_id)


async def require_organiser(request: web.Request, cafes: CafeService) -> Organiser:
    organiser = await current_organiser(request, cafes)
    if organiser is None:
        raise web.HTTPSeeOther(str(URL("/login").with_query(next=request.path_qs)))
    return organiser


async def require_cafe_organiser(request: web.Request,
                                 cafes: CafeService) -> tuple[Organiser, Cafe]:
    """The logged-in organiser and the café of the URL's `{slug}`, when the café belongs to
    their association (the permission table's association scope); 403 otherwise, login
    first when nobody is logged in. Every organiser page of a café goes through here."""
    organiser = await require_organiser(request, cafes)
    return organiser, await cafes.administered(organiser, request.match_info["slug"][:100])


async def login(request: web.Request, organiser: Organiser) -> None:
    """A new session (never the one the browser came with) and its server-side record."""
    session = await get_session(request)
    session.invalidate()
    session = await get_session(request)
    sid = secrets.token_urlsafe(32)
    now = request.app[CLOCK].now()
    await request.app[LOGIN_STORE].add(record_key(sid), organiser.id, now,
                                       now + timedelta(seconds=SESSION_MAX_AGE))
    session[ORGANISER] = organiser.id
    session[SID] = sid
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


async def logout(request: web.Request) -> str | None:
    """Ends this login on the server: a copy of the cookie opens nothing afterwards. The
    login's session id, for its open sockets (`signaling.standing.logins_ended`)."""
    session = await get_session(request)
    sid = session.get(SID)
    if isinstance(sid, str):
        await request.app[LOGIN_STORE].remove(record_key(sid))
    session.invalidate()
    return sid if isinstance(sid, str) else None


async def change_password(request: web.Request, cafes: CafeService, organiser: Organiser,
                          current: str, new: str) -> None:
    """Check the current password, store the new one, end every login of this organiser
    (every browser), then log this browser in again."""
    if await authenticate(cafes, organiser.email, current) is None:
        raise PermissionDenied("The current password is not right.")
    new_hash = await hash_password(validate_password(new))
    async with cafes.db.transaction() as conn:
        await cafes.repo.set_password_hash(conn, organiser.id, new_hash)
    await request.app[LOGIN_STORE].remove_organiser(organiser.id)
    log.info("password changed organiser=%s", organiser.id)
    await login(request, organiser)


async def reset_password(cafes: CafeService, logins: LoginStore, email: str,
                         password: str) -> int:
    """An operator's reset (`causerie admin password`): the new hash, and every login of
    the organiser ended."""
    password_hash = await hash_password(validate_password(password))
    async with cafes.db.transaction() as conn:
        row = await cafes.repo.organiser_by_email(conn, validate_email(email))
        if row is None:
            raise InvalidInput("No organiser has this e-mail address.")
        await cafes.repo.set_password_hash(conn, row["id"], password_hash)
    await logins.remove_organiser(int(row["id"]))
    log.info("password reset organiser=%s", row["id"])
    return int(row["id"])


async def csrf_token(request: web.Request) -> str:
    session = await get_session(request)
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


async def check_csrf(request: web.Request, submitted: str | None) -> None:
    session = await get_session(request)
    expected = session.get(CSRF_FIELD)
    if not (isinstance(expected, str) and submitted
            and hmac.compare_digest(expected.encode(), submitted.encode())):
        log.warning("CSRF check failed path=%s", request.path)
        raise PermissionDenied("This form has expired; please reload the page and try again.")
