"""Shared fixtures: a migrated database (SQLite file, and PostgreSQL under the `postgres`
marker), a typed config in a temporary data dir, the real aiohttp app and a client.

PostgreSQL and Redis are real services. Outside CI a missing service skips its tests with a
reason; in CI (`CI=true`) it fails them, so nothing is skipped silently there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from server.app import create_app
from server.config import Config, load_config
from server.migrate import upgrade
from sessions.clock import FixedClock
from sessions.storage.database import Database
from sessions.storage.tables import metadata
from transcripts.search import open_database

if TYPE_CHECKING:
    from signaling_fixtures import Live

POSTGRES_ADMIN_URL = os.environ.get(
    "CAUSERIE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CAUSERIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    """Every app and `causerie` process the tests start shares one reassembled Whisper model
    (the one `make install-test` put in var/), and starts without live captions unless a
    test asks for them: a caption model per test app would cost seconds each."""
    from transcripts.model import default_cache_dir, install_model

    model_dir = install_model(default_cache_dir(REPO / "var"))
    os.environ.setdefault("CAUSERIE_WHISPER__MODEL", str(model_dir))
    os.environ.setdefault("CAUSERIE_WHISPER__LIVE_CAPTIONS", "false")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every browser test and every real-Whisper test is `serial`: `make test` runs the rest
    on two pytest-xdist workers, then the serial ones alone. Playwright's sync API keeps its
    own event loop running in the process; the browser scenarios measure what a person
    waits for; a part's transcription has a time budget, which a parallel worker's share of
    the cores would decide (it gives up speech, marked short, to keep within it)."""
    e2e = REPO / "tests" / "e2e"
    for item in items:
        if item.path.is_relative_to(e2e):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.serial)
        elif item.get_closest_marker("whisper") is not None:
            item.add_marker(pytest.mark.serial)


def in_thread(work: Callable[[], T]) -> T:
    """Run blocking set-up (an `asyncio.run`, an Alembic upgrade) in a thread of its own, so
    fixtures may call it whether or not an event loop runs in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def service_missing(what: str, why: object) -> None:
    """Skip locally, fail in CI: a CI run never skips a service test silently."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "causerie.db"
    in_thread(lambda: upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated once per session, dropped at the end."""
    name = f"causerie_test_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    try:
        in_thread(lambda: asyncio.run(admin(f'CREATE DATABASE "{name}"')))
    except Exception as exc:  # connection refused, auth: the service is not there
        service_missing("PostgreSQL", exc)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    in_thread(lambda: upgrade(url))
    yield url
    in_thread(lambda: asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "causerie.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    return empty_postgres(request)


def empty_postgres(request: pytest.FixtureRequest) -> str:
    """The session's migrated PostgreSQL database, emptied for this test."""
    url: str = request.getfixturevalue("postgres_database")
    in_thread(lambda: asyncio.run(_truncate(url)))
    return url


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database only, for tests that need no PostgreSQL twin."""
    path = tmp_path / "causerie.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    yield database
    await database.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def make_config(tmp_path: Path, database_url: str, **overrides: Any) -> Config:
    return load_config(
        data_dir=tmp_path / "var", database_url=database_url, secret_key=TEST_SECRET,
        ice={"host_addresses": ["127.0.0.1"]}, **overrides)


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Config:
    return make_config(tmp_path, sqlite_url)


@pytest.fixture
def app(config: Config, clock: FixedClock) -> web.Application:
    return create_app(config, clock=clock)


@pytest.fixture
async def client(
    aiohttp_client: object, app: web.Application
) -> TestClient[web.Request, web.Application]:
    make = cast(Any, aiohttp_client)
    test_client: TestClient[web.Request, web.Application] = await make(app)
    return test_client


@pytest.fixture
async def live(aiohttp_server: Any, app: web.Application) -> AsyncIterator[Live]:
    """The test's app served on a real port, and the socket.io peers it opened (closed at
    the end). For the functional tests (`signaling_fixtures` sits beside them)."""
    from aiohttp.test_utils import TestServer
    from signaling_fixtures import Live

    server = cast(TestServer, await aiohttp_server(app))
    running = Live(server, app)
    yield running
    await running.close()


@pytest.fixture
async def pcs() -> AsyncIterator[list[Any]]:
    """aiortc peer connections a test opened as its browsers (closed at the end)."""
    made: list[Any] = []
    yield made
    for pc in made:
        await pc.close()
