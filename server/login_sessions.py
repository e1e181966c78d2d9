"""Organiser logins kept on the server, so that logout and a password change end them.

The session cookie stays aiohttp-session's encrypted cookie (a CSRF token for everyone, no
server write for an anonymous page view). A login adds a random `sid` to it and a record in
a `LoginStore`; `RevocableCookieStorage` loads the cookie and, when it names a login, keeps
it only while that record exists, has not expired and belongs to the same organiser. Every
reader of the session (the admin pages, the socket.io join of an organiser) therefore sees a
logged-out or revoked cookie as anonymous, with no check of its own.

Stores, one interface: `DatabaseLoginStore` (the `login_sessions` table), `RedisLoginStore`
(when `redis_url` is set) and `MemoryLoginStore` (its twin for unit tests and embedding).
Records are keyed by the SHA-256 of the sid: a copy of the table opens no session.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from sessions.clock import Clock
from sessions.storage.database import Database, as_utc
from sessions.storage.tables import login_sessions

SID = "sid"
ORGANISER = "organiser_id"


def record_key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class LoginStore(Protocol):
    async def add(self, key: str, organiser_id: int, now: datetime,
                  expires_at: datetime) -> None: ...

    async def organiser(self, key: str, now: datetime) -> int | None:
        """The organiser of a live record, None when it is gone or expired."""

    async def remove(self, key: str) -> None: ...

    async def remove_organiser(self, organiser_id: int) -> None: ...

    async def close(self) -> None: ...


class MemoryLoginStore:
    def __init__(self) -> None:
        self._records: dict[str, tuple[int, datetime]] = {}

    async def add(self, key: str, organiser_id: int, now: datetime,
                  expires_at: datetime) -> None:
        self._records = {k: v for k, v in self._records.items() if v[1] > now}
        self._records[key] = (organiser_id, expires_at)

    async def organiser(self, key: str, now: datetime) -> int | None:
        record = self._records.get(key)
        return record[0] if record is not None and record[1] > now else None

    async def remove(self, key: str) -> None:
        self._records.pop(key, None)

    async def remove_organiser(self, organiser_id: int) -> None:
        self._records = {k: v for k, v in self._records.items() if v[0] != organiser_id}

    async def close(self) -> None:
        return None


class DatabaseLoginStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, key: str, organiser_id: int, now: datetime,
                  expires_at: datetime) -> None:
        async with self.db.transaction() as conn:
            # Expired rows go as new ones come: the table holds live logins only.
            await conn.execute(login_sessions.delete().where(login_sessions.c.expires_at <= now))
            await conn.execute(login_sessions.insert().values(
                key=key, organiser_id=organiser_id, created_at=now, expires_at=expires_at))

    async def organiser(self, key: str, now: datetime) -> int | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(
                sa.select(login_sessions.c.organiser_id, login_sessions.c.expires_at)
                .where(login_sessions.c.key == key))).first()
        if row is None or as_utc(row.expires_at) <= now:
            return None
        return int(row.organiser_id)

    async def remove(self, key: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(login_sessions.delete().where(login_sessions.c.key == key))

    async def remove_organiser(self, organiser_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(login_sessions.delete()
                               .where(login_sessions.c.organiser_id == organiser_id))

    async def close(self) -> None:
        return None  # the app owns the database


class RedisLoginStore:
    """`causerie:login:<key>` = "organiser:expiry", with a TTL; a set per organiser lists
    its keys so that a password change finds them all."""

    def __init__(self, redis_url: str) -> None:
        import redis.asyncio

        self._redis: Any = redis.asyncio.Redis.from_url(redis_url)

    async def add(self, key: str, organiser_id: int, now: datetime,
                  expires_at: datetime) -> None:
        ttl = max(1, int((expires_at - now).total_seconds()))
        index = f"causerie:login:organiser:{organiser_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"causerie:login:{key}", f"{organiser_id}:{expires_at.timestamp()}", ex=ttl)
            pipe.sadd(index, key)
            pipe.expire(index, ttl, gt=True)
            pipe.expire(index, ttl, nx=True)
            await pipe.execute()

    async def organiser(self, key: str, now: datetime) -> int | None:
        value = await self._redis.get(f"causerie:login:{key}")
        if value is None:
            return None
        organiser, expiry = value.decode().split(":", 1)
        return int(organiser) if float(expiry) > now.timestamp() else None

    async def remove(self, key: str) -> None:
        await self._redis.delete(f"causerie:login:{key}")

    async def remove_organiser(self, organiser_id: int) -> None:
        index = f"causerie:login:organiser:{organiser_id}"
        keys = [k.decode() for k in await self._redis.smembers(index)]
        await self._redis.delete(index, *(f"causerie:login:{k}" for k in keys))

    async def close(self) -> None:
        await self._redis.aclose()


LOGIN_STORE = web.AppKey("login_store", LoginStore)


def login_store(db: Database, redis_url: str) -> LoginStore:
    """Where the app (and the CLI resetting a password) keeps logins: Redis when the
    processes share one, else the database."""
    return RedisLoginStore(redis_url) if redis_url else DatabaseLoginStore(db)


class RevocableCookieStorage(EncryptedCookieStorage):
    """aiohttp-session's encrypted cookie, whose login part holds only while the server's
    record does (see the module's docstring)."""

    def __init__(self, secret_key: bytes, clock: Clock, **params: Any) -> None:
        super().__init__(secret_key, **params)
        self.clock = clock

    async def load_session(self, request: web.Request) -> Session:
        session = await super().load_session(request)
        if ORGANISER not in session and SID not in session:
            return session
        sid = session.get(SID)
        store = request.app.get(LOGIN_STORE)
        organiser = (await store.organiser(record_key(sid), self.clock.now())
                     if isinstance(sid, str) and store is not None else None)
        if organiser is None or organiser != session.get(ORGANISER):
            # Logged out, revoked, expired or forged: an anonymous session. Not marked changed:
            # a socket.io request's response is already sent, and the stale cookie opens
            # nothing; the next form's CSRF token replaces it.
            return Session(None, data=None, new=True, max_age=self.max_age)
        return session


def expiry(now: datetime, max_age: int) -> datetime:
    return now + timedelta(seconds=max_age)
