"""How long an event takes to reach every client of a large café, and what it costs the
server.

N websocket clients join one live café (light engine.io/socket.io clients, in several client
processes pinned to the last core); the server runs in its own process pinned to core 0. Each
round a participant asks a question and a moderator approves it: `qa.question` then goes to
the whole café (one room emit, the author and the moderators excluded). Latency: from just
before the moderator sends `qa.approve` to each client's receipt (one clock, one machine);
p50/p99 over every delivery of every round. Server CPU: user+system time of the server
process(es) during the rounds.

    .venv/bin/python bench/signaling_fanout.py                 # N = 500, 1000, 2000
    .venv/bin/python bench/signaling_fanout.py --sizes 2000 --processes 2 --redis redis://127.0.0.1:6379/9
    .venv/bin/python bench/signaling_fanout.py --managers stock   # python-socketio's own only

Each size runs with Causerie's manager (`fanout`: `signaling.manager`) then with
python-socketio's stock `AsyncManager` / `AsyncRedisManager` and engine.io's aiohttp
websocket (compressed), the baseline, in the same run; the 1-minute load average of the
machine is printed beside each line (the machine may be shared). A size whose clients do not
all connect within `--connect-timeout` seconds is reported as such and skipped.

Redis (for --processes 2) pub/sub channels ignore database numbers; the channel is derived
from the database (see `signaling.setup.pubsub_channel`), so pick a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.socketio_client import Client, cpu_seconds, free_port, loadavg, machine, wait_healthy

SECRET = "bench-secret-key-0123456789-abcdefghijklmnopq"
ROUNDS = 5
# not measured: the server's first approval compiles its SQL statements, and a cyclic garbage
# collection of everything the joins allocated tends to land in it
WARMUP_ROUNDS = 1
ROUND_WAIT = 3.0


# --- the server process -----------------------------------------------------------------------


def serve(port: int, database_url: str, redis_url: str, data_dir: str, stock: bool) -> None:
    os.sched_setaffinity(0, {0})
    import logging

    from aiohttp import web

    import signaling.setup
    from server.app import create_app, freeze_startup_objects
    from server.config import load_config

    logging.basicConfig(level=logging.WARNING)
    # BENCH_INFO_LOGGERS=a,b: those loggers at INFO too (a bench counts their lines)
    for name in filter(None, os.environ.get("BENCH_INFO_LOGGERS", "").split(",")):
        logging.getLogger(name).setLevel(logging.INFO)
    gc_log = os.environ.get("BENCH_GC_LOG")
    if gc_log:  # record the server's cyclic-GC pauses (generation, ms, wall clock)
        started: list[float] = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            elif info["generation"] == 2:
                with open(gc_log, "a") as f:
                    f.write(f"{time.time():.3f} gen2 "
                            f"{(time.perf_counter() - started[0]) * 1000:.1f} ms\n")

        gc.callbacks.append(on_gc)
    if stock:
        import socketio

        class Stock(socketio.AsyncManager):  # type: ignore[misc]
            command_hook = None
            room_closed_hook = None

            async def send_command(self, command: dict[str, Any]) -> None:
                if self.command_hook is not None:
                    await self.command_hook(command)

        class StockRedis(socketio.AsyncRedisManager):  # type: ignore[misc]
            command_hook = None
            room_closed_hook = None

            async def send_command(self, command: dict[str, Any]) -> None:
                if self.command_hook is not None:
                    await self.command_hook(command)

        setattr(signaling.setup, "FanoutManager", Stock)  # noqa: B010 - the baseline
        setattr(signaling.setup, "FanoutRedisManager", StockRedis)  # noqa: B010
    config = load_config(data_dir=Path(data_dir), database_url=database_url, secret_key=SECRET,
                         redis_url=redis_url, port=port,
                         limits={"questions_per_minute": 100, "events_per_second": 1000})
    app = create_app(config)
    app.on_startup.append(freeze_startup_objects)  # as `causerie serve` does
    web.run_app(app, host="127.0.0.1", port=port, print=None,
                access_log=None)


# --- light socket.io clients --------------------------------------------------------------------


class Parent(Client):
    """A parent's socket that keeps the receipt time of every `qa.question` (and, for the
    moderator, its payload)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        super().__init__(ws)
        self.received: list[float] = []
        self.questions: list[dict[str, Any]] = []
        self.keep_payloads = False
        self.arrived = asyncio.Event()

    def on_event(self, data: str) -> None:
        if data.startswith('42["qa.question"'):
            self.received.append(time.time())
            if self.keep_payloads:
                self.questions.append(json.loads(data[2:])[1])
                self.arrived.set()


def client_process(urls: list[str], slug: str, count: int, ready: Any, done: Any,
                   results: Any, cores: set[int], concurrency: int) -> None:
    os.sched_setaffinity(0, cores)

    async def main() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            clients: list[Parent] = []
            gate = asyncio.Semaphore(concurrency)

            async def arrive(i: int) -> None:
                async with gate:
                    client = await Parent.open(session, urls[i % len(urls)])
                    await client.join(slug, f"p{os.getpid()}-{i}")
                    clients.append(client)

            await asyncio.gather(*(arrive(i) for i in range(count)))
            # The clients are the instrument: keep the cyclic GC from walking all of them
            # (a pause of a client process during a round is counted as latency).
            gc.collect()
            gc.freeze()
            ready.put(count)
            await asyncio.to_thread(done.wait)
            results.put([t for c in clients for t in c.received])
            for c in clients:
                await c.ws.close()

    asyncio.run(main())


# --- the coordinator ------------------------------------------------------------------------


async def make_cafe(database_url: str) -> tuple[str, str]:
    import dataclasses
    from datetime import timedelta

    from sessions.cafe import CafeDraft, CafeStatus
    from sessions.clock import SystemClock
    from sessions.roles import Role
    from sessions.service_cafes import CafeService
    from transcripts.search import open_database

    db = open_database(database_url)
    cafes = CafeService(db, SystemClock(), SECRET)
    now = cafes.clock.now()
    cafe = await cafes.create_cafe(CafeDraft("Bench", "", "screens", "fr",
                                             now + timedelta(hours=1), 60), None)
    async with db.transaction() as conn:
        await cafes.repo.save_state(conn, dataclasses.replace(
            cafe, status=CafeStatus.LIVE, opened_at=now))
    token = (await cafes.invite(cafe.id, Role.MODERATOR)).token
    await db.close()
    return cafe.slug, token


async def run_rounds(url: str, slug: str, token: str,
                     pids: list[int]) -> tuple[list[float], float, float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        moderator = await Parent.open(session, url)
        moderator.keep_payloads = True
        await moderator.join(slug, "Modo", invite=token)
        asker = await Parent.open(session, url)
        await asker.join(slug, "Asker")
        starts: list[float] = []
        cpu0 = sum(cpu_seconds(p) for p in pids)
        wall0 = time.monotonic()
        for r in range(ROUNDS + WARMUP_ROUNDS):
            if r == WARMUP_ROUNDS:  # measure from here
                cpu0 = sum(cpu_seconds(p) for p in pids)
                wall0 = time.monotonic()
            await asker.call("qa.ask", {"text": f"Question {r} ?"})
            while len(moderator.questions) < 2 * r + 1:
                moderator.arrived.clear()
                await asyncio.wait_for(moderator.arrived.wait(), 30)
            question_id = moderator.questions[-1]["id"]
            await asyncio.sleep(0.5)
            if r >= WARMUP_ROUNDS:
                starts.append(time.time())
            ack = await moderator.call("qa.approve", {"question_id": question_id})
            assert ack["ok"], ack
            await asyncio.sleep(ROUND_WAIT)
        wall = time.monotonic() - wall0
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        await moderator.ws.close()
        await asker.ws.close()
    return starts, cpu, wall


def bench(size: int, processes: int, redis_url: str, stock: bool, client_procs: int,
          connect_timeout: float, concurrency: int) -> None:
    load0 = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{tmp}/causerie.db"
        from server.migrate import upgrade

        upgrade(database_url)
        ports = [free_port() for _ in range(processes)]
        servers = [subprocess.Popen(
            [sys.executable, __file__, "serve", str(p), database_url, redis_url, tmp,
             "1" if stock else "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for p in ports]
        try:
            for port in ports:
                wait_healthy(port)
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            slug, token = asyncio.run(make_cafe(database_url))
            ctx = mp.get_context("spawn")
            ready, results, done = ctx.Queue(), ctx.Queue(), ctx.Event()
            last = {max(0, (os.cpu_count() or 1) - 1)}
            share = [size // client_procs + (1 if i < size % client_procs else 0)
                     for i in range(client_procs)]
            workers = [ctx.Process(target=client_process,
                                   args=(urls, slug, n, ready, done, results, last,
                                         concurrency))
                       for n in share]
            t0 = time.monotonic()
            for w in workers:
                w.start()
            try:
                for _ in workers:
                    ready.get(timeout=max(1.0, connect_timeout - (time.monotonic() - t0)))
            except queue.Empty:
                print(f"N={size:5d} servers={processes} manager="
                      f"{'stock' if stock else 'fanout'}: clients not all connected within "
                      f"{connect_timeout:.0f} s; skipped (load {load0})", flush=True)
                for w in workers:
                    w.kill()
                return
            connect_s = time.monotonic() - t0
            starts, cpu, wall = asyncio.run(run_rounds(urls[0], slug, token,
                                                       [s.pid for s in servers]))
            done.set()
            stamps = [t for _ in workers for t in results.get(timeout=120)]
            for w in workers:
                w.join(30)
        finally:
            for s in servers:
                s.terminate()
                s.wait(10)
    latencies = []
    per_round: dict[float, list[float]] = {s: [] for s in starts}
    for t in stamps:
        start = max((s for s in starts if s <= t), default=None)
        if start is not None:
            latencies.append((t - start) * 1000)
            per_round[start].append((t - start) * 1000)
    # one slow round (the machine is shared) is the whole 1 % tail: show each round's p99
    round_p99 = [sorted(v)[min(len(v) - 1, int(len(v) * 0.99))] if v else float("nan")
                 for v in per_round.values()]
    latencies.sort()
    expected = size * ROUNDS
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0
    burst_cpu = cpu / ROUNDS
    print(f"N={size:5d} servers={processes} manager={'stock' if stock else 'fanout'}: "
          f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {latencies[-1]:6.1f} ms  "
          f"deliveries {len(latencies)}/{expected}  server CPU {burst_cpu * 1000:6.1f} ms "
          f"per event ({cpu / wall:.3f} core average over {wall:.1f} s)  "
          f"connect+join {connect_s:.1f} s  load {load0}->{loadavg()}  p99 by round "
          f"{' '.join(f'{x:.0f}' for x in round_p99)} ms", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        port, database_url, redis_url, data_dir, stock = sys.argv[2:7]
        serve(int(port), database_url, redis_url, data_dir, stock == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500,1000,2000")
    parser.add_argument("--processes", type=int, default=1, choices=[1, 2])
    parser.add_argument("--redis", default="", help="redis://HOST:PORT/DB (needed for 2)")
    parser.add_argument("--managers", default="fanout,stock",
                        help="fanout (signaling.manager), stock (python-socketio's), or both")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--join-concurrency", type=int, default=8,
                        help="joins in flight per client process (browsers arrive together)")
    parser.add_argument("--connect-timeout", type=float, default=300.0,
                        help="seconds for all clients of one size to connect and join")
    args = parser.parse_args()
    if args.processes > 1 and not args.redis:
        parser.error("--processes 2 needs --redis")
    print(machine(), flush=True)
    print(f"server pinned to core 0, clients on core {(os.cpu_count() or 1) - 1} "
          f"({args.client_processes} processes, {args.join_concurrency} joins in flight each); "
          f"{ROUNDS} rounds per size after {WARMUP_ROUNDS} unmeasured", flush=True)
    managers = [m.strip() for m in args.managers.split(",") if m.strip()]
    if not managers or set(managers) - {"fanout", "stock"}:
        parser.error("--managers: fanout, stock or both")
    for size in (int(s) for s in args.sizes.split(",")):
        for manager in managers:
            bench(size, args.processes, args.redis, manager == "stock", args.client_processes,
                  args.connect_timeout, args.join_concurrency)


if __name__ == "__main__":
    main()
