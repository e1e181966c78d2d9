"""Transcript jobs through arq on the real Redis, with real arq workers (a fake Whisper).

Each test has its own queue name (every arq key of its jobs carries it) and deletes its keys
at the end, so parallel runs on one Redis do not collide. A worker stopped mid-job (its task
cancelled) and a worker killed with SIGKILL: the job runs again and its segments are stored
once.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from transcripts_support import ScriptedTranscriber, add_cafe, add_recordings

from sessions.storage.database import Database
from transcripts.engine import TranscriberPool
from transcripts.jobs import ArqJobQueue, enqueue_cafe
from transcripts.repository import TranscriptRepository
from transcripts.worker import WorkerValues, worker_settings

pytestmark = [
    pytest.mark.redis,
    # arq's Worker.close() calls redis-py's deprecated close() (arq 0.28, redis 5).
    pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning"),
]

HERE = Path(__file__).resolve().parent
CHILD = r"""
import asyncio, sys
from pathlib import Path
from arq.worker import Worker
from transcripts.engine import TranscriberPool
from transcripts.worker import WorkerValues, worker_settings
from transcripts_support import ScriptedTranscriber

async def main() -> None:
    values = WorkerValues(database_url=sys.argv[1], redis_url=sys.argv[2],
                          data_dir=Path(sys.argv[3]), queue_name=sys.argv[4], job_timeout=60)
    pool = lambda: TranscriberPool(lambda: ScriptedTranscriber(delay=60), processes=False)
    worker = Worker(**{**worker_settings(values, pool), "handle_signals": False,
                       "poll_delay": 0.05})
    await worker.async_run()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def shared(request: pytest.FixtureRequest) -> Any:
    """tests/conftest.py, for its REDIS_URL and service_missing(): taken from pytest by path,
    as the bare name `conftest` is tests/e2e's once that folder is collected."""
    module = request.config.pluginmanager.get_plugin(str(HERE.parent / "conftest.py"))
    assert module is not None
    return module


@pytest.fixture
def redis_url(shared: Any) -> str:
    return str(shared.REDIS_URL)


@pytest.fixture
async def queue(shared: Any, redis_url: str) -> AsyncIterator[ArqJobQueue]:
    name = f"causerie-test:{uuid.uuid4().hex[:12]}"
    try:
        q = await asyncio.wait_for(ArqJobQueue.connect(redis_url, queue_name=name), 5)
        await q.redis.ping()
    except Exception as exc:
        shared.service_missing("Redis", exc)
    try:
        yield q
    finally:
        keys = [k async for k in q.redis.scan_iter(match=f"*{name}*")]
        if keys:
            await q.redis.delete(*keys)
        await q.aclose()


def values(database_url: str, queue: ArqJobQueue, tmp_path: Path,
           **extra: Any) -> WorkerValues:
    return WorkerValues(database_url=database_url, redis_url=str(queue.redis_url),
                        data_dir=tmp_path, queue_name=queue.queue_name, **extra)


def fake_pool(fake: ScriptedTranscriber) -> Callable[[], TranscriberPool]:
    return lambda: TranscriberPool(lambda: fake, processes=False)


def worker(v: WorkerValues, pool: Callable[[], TranscriberPool], burst: bool = True) -> Any:
    from arq.worker import Worker

    return Worker(**{**worker_settings(v, pool), "handle_signals": False, "burst": burst,
                     "poll_delay": 0.05})


async def run_burst(v: WorkerValues, pool: Callable[[], TranscriberPool]) -> Any:
    w = worker(v, pool)
    try:
        await asyncio.wait_for(w.async_run(), 60)
    finally:
        await w.close()
    return w


async def wait_running(repo: TranscriptRepository, cafe_id: int, within: float = 30) -> int:
    for _ in range(int(within / 0.05)):
        running = [j for j in await repo.jobs(cafe_id) if j.status == "running"]
        if running:
            return running[0].recording_id
        await asyncio.sleep(0.05)
    raise AssertionError("no job started")


async def test_arq_worker_stores_each_recordings_segments_once(
        db: Database, database_url: str, queue: ArqJobQueue, tmp_path: Path) -> None:
    cafe_id = await add_cafe(db)
    ids = await add_recordings(db, cafe_id, tmp_path / "rec", 3)
    repo = TranscriptRepository(db)
    assert await enqueue_cafe(repo, queue, cafe_id) == ids
    assert await enqueue_cafe(repo, queue, cafe_id) == ids  # not done yet: queued again...
    assert await queue.redis.zcard(queue.queue_name) == 3  # ...but one arq job each
    fake = ScriptedTranscriber()
    w = await run_burst(values(database_url, queue, tmp_path), fake_pool(fake))
    assert (w.jobs_complete, w.jobs_failed, fake.calls) == (3, 0, 3)
    segs = await repo.segments(cafe_id)
    assert len(segs) == 6 and sorted({s.speaker for s in segs}) == [
        "Speaker 0", "Speaker 1", "Speaker 2"]
    assert [s.start for s in segs] == [0.1, 0.5, 60.1, 60.5, 120.1, 120.5]
    assert {(j.status, j.attempts) for j in await repo.jobs(cafe_id)} == {("done", 1)}
    # Done: the café's end queues nothing more, a stray enqueue runs and writes nothing.
    assert await enqueue_cafe(repo, queue, cafe_id) == []
    await queue.enqueue(cafe_id, ids[0])
    await run_burst(values(database_url, queue, tmp_path), fake_pool(fake))
    assert fake.calls == 3 and len(await repo.segments(cafe_id)) == 6


# A worker cancelled while the driver is opening a connection (asyncpg's or aiosqlite's
# handshake cut by the cancel) leaves that connection to the garbage collector: the process is
# stopping, and the driver cannot close a half-open one. Collected here, so the warning is
# this test's and never lands on whichever test runs next.
@pytest.fixture
def collect_after_loop() -> Iterator[None]:
    """Torn down after the test's event loop is closed: its leftover transports go now."""
    yield
    gc.collect()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_worker_stopped_mid_job_is_retried_without_duplicates(
        collect_after_loop: None, db: Database, database_url: str, queue: ArqJobQueue,
        tmp_path: Path) -> None:
    cafe_id = await add_cafe(db)
    ids = await add_recordings(db, cafe_id, tmp_path / "rec", 2)
    repo = TranscriptRepository(db)
    await enqueue_cafe(repo, queue, cafe_id)
    slow = ScriptedTranscriber(delay=1.5)
    first = worker(values(database_url, queue, tmp_path), fake_pool(slow), burst=False)
    task = asyncio.create_task(first.async_run())
    cut = await wait_running(repo, cafe_id)
    task.cancel()  # the worker process is told to stop mid-job
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.close()  # cancels the running job: arq puts it back, the claim is released
    job = await repo.job(cut)
    assert job is not None and job.status == "queued" and job.attempts == 1
    assert await queue.redis.zscore(queue.queue_name, queue.job_id(cut)) is not None
    fake = ScriptedTranscriber()
    await run_burst(values(database_url, queue, tmp_path), fake_pool(fake))
    segs = await repo.segments(cafe_id)
    assert len(segs) == 4 and len({(s.start, s.speaker) for s in segs}) == 4
    jobs = {j.recording_id: j for j in await repo.jobs(cafe_id)}
    assert all(j.status == "done" for j in jobs.values()) and jobs[cut].attempts == 2
    assert set(jobs) == set(ids)
    assert await queue.redis.zcard(queue.queue_name) == 0


async def test_a_worker_killed_mid_job_is_retried_without_duplicates(
        db: Database, database_url: str, queue: ArqJobQueue, tmp_path: Path) -> None:
    cafe_id = await add_cafe(db)
    (rid,) = await add_recordings(db, cafe_id, tmp_path / "rec", 1)
    repo = TranscriptRepository(db)
    await enqueue_cafe(repo, queue, cafe_id)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), str(HERE)])}
    child = subprocess.Popen(  # noqa: ASYNC220 (started once; waited for off the loop)
        [sys.executable, "-c", CHILD, database_url, queue.redis_url, str(tmp_path),
         queue.queue_name], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert await wait_running(repo, cafe_id, within=60) == rid
    finally:
        os.kill(child.pid, signal.SIGKILL)
        await asyncio.to_thread(child.wait)
    # kill -9: no clean-up ran. The claim stays `running`; arq's lock on the job expires
    # job_timeout + 10 s after it started, then any worker runs the job again.
    job = await repo.job(rid)
    assert job is not None and job.status == "running"
    lock = f"arq:in-progress:{queue.job_id(rid)}"
    assert 0 < await queue.redis.pttl(lock) <= 70_000
    await queue.redis.delete(lock)  # as if those 70 s had passed
    await asyncio.sleep(0.6)
    fake = ScriptedTranscriber()
    await run_burst(values(database_url, queue, tmp_path, stale_after=0.5), fake_pool(fake))
    assert fake.calls == 1 and len(await repo.segments(cafe_id)) == 2
    job = await repo.job(rid)
    assert job is not None and (job.status, job.attempts) == ("done", 2)
