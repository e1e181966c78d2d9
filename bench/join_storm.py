"""The start of a popular café: N parents join one live café at once (issue 8).

N websocket clients (light engine.io/socket.io clients in several client processes pinned to
the last core) first connect; then, at one signal, every one of them sends `join` at once.
Measured: joins acked per second (N over the time from the signal to the last ack), the p50
and p99 join ack (from the signal), error acks, and the CPU time the server used over the
storm (from the watcher's first question to two seconds after the last ack; on a loaded
machine the wall-clock figures grow, that one much less). Meanwhile one parent joined before
the storm asks a question every 500 ms and times its own `qa.question` coming back (the author is
told at once): the café's other events must still be delivered. After the storm, the café's
attendance peak as stored while it is still live (`sessions.attendance`: read once the
recorder's interval passed) and how many peak writes the server made for it (its
`attendance peak` log lines): a few, never one per join. The server runs in its own
process pinned to core 0, as `causerie serve` starts it (SQLite, or PostgreSQL with
`--backend postgres`).

The baseline, in the same run: python-socketio's plain `AsyncServer` on aiohttp answering
the same `join` event with a trivial ack (and echoing the chat), nothing else.

    .venv/bin/python bench/join_storm.py                  # N = 2000, both servers
    .venv/bin/python bench/join_storm.py --sizes 500,2000 --servers causerie
    .venv/bin/python bench/join_storm.py --backend postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.signaling_fanout import make_cafe, serve  # the sibling bench's server
from bench.socketio_client import Client, cpu_seconds, free_port, loadavg, machine, wait_healthy

CHAT_EVERY = 0.5


def serve_plain(port: int) -> None:
    """python-socketio's own server: connect, and `join` answered with a trivial ack."""
    os.sched_setaffinity(0, {0})
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, data: Any) -> dict[str, Any]:
        await sio.enter_room(sid, "cafe")
        return {"ok": True, "participant": {"id": 1}}

    @sio.on("qa.ask")  # type: ignore[untyped-decorator]
    async def ask(sid: str, data: Any) -> dict[str, Any]:
        await sio.emit("qa.question", data, to=sid)
        return {"ok": True}

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Watcher(Client):
    """A parent who chats through the storm and times its own messages' return."""

    sent: dict[str, float]
    delays: list[float]

    def on_event(self, data: str) -> None:
        if data.startswith(('42["chat.message"', '42["qa.question"')):
            text = str(json.loads(data[2:])[1].get("text", ""))
            if text in self.sent:
                self.delays.append(time.monotonic() - self.sent.pop(text))


def storm_process(url: str, slug: str, count: int, ready: Any, go: Any, results: Any,
                  leave: Any, cores: set[int]) -> None:
    os.sched_setaffinity(0, cores)

    async def main() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            gate = asyncio.Semaphore(32)

            async def open_one() -> Client:
                async with gate:
                    return await Client.open(session, url)

            clients = await asyncio.gather(*(open_one() for _ in range(count)))
            ready.put(count)
            start = await asyncio.to_thread(go.get)

            async def join(i: int, client: Client) -> tuple[float, str]:
                ack = await client.call("join", {"cafe": slug, "pseudonym": f"p{i}",
                                                 "browser_key": secrets.token_hex(16)})
                code = "ok" if ack.get("ok") else str(ack.get("error", {}).get("code"))
                return time.time() - start, code

            outcome = await asyncio.gather(*(join(i, c) for i, c in enumerate(clients)))
            results.put(outcome)
            await asyncio.to_thread(leave.get)  # everyone stays until the peak was read
            for c in clients:
                await c.ws.close()

    asyncio.run(main())


async def watch(url: str, slug: str, stop: asyncio.Event) -> tuple[list[float], int]:
    async with aiohttp.ClientSession() as session:
        watcher = await Watcher.open(session, url)
        watcher.sent, watcher.delays = {}, []
        ack = await watcher.call("join", {"cafe": slug, "pseudonym": "Veilleuse",
                                          "browser_key": secrets.token_hex(16)})
        assert ack["ok"], ack
        n = 0
        while not stop.is_set():
            n += 1
            text = f"message {n}"
            watcher.sent[text] = time.monotonic()
            # a question (100 a minute here), whose author gets it back at once
            await watcher.ws.send_str("42" + json.dumps(["qa.ask", {"text": text}]))
            await asyncio.sleep(CHAT_EVERY)
        await asyncio.sleep(2)
        await watcher.ws.close()
        return watcher.delays, n


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


PG_ADMIN_URL = os.environ.get("CAUSERIE_BENCH_POSTGRES_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _pg_admin(statement: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def bench(size: int, server: str, client_procs: int, timeout: float, backend: str) -> None:
    load0 = loadavg()
    pg_name = f"causerie_bench_join_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{tmp}/causerie.db"
        if backend == "postgres" and server == "causerie":  # a throwaway database
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            asyncio.run(_pg_admin(f'CREATE DATABASE "{pg_name}"'))
            database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{pg_name}"
        port = free_port()
        if server == "causerie":
            from server.migrate import upgrade

            upgrade(database_url)
            args = ["serve", str(port), database_url, "", tmp, "0"]
        else:
            args = ["plain", str(port)]
        # BENCH_SERVER_LOG=FILE keeps the server's warnings and errors (and its peak writes)
        log_path = os.environ.get("BENCH_SERVER_LOG") or f"{tmp}/server.log"
        server_log = open(log_path, "a")  # noqa: SIM115
        env = {**os.environ, "BENCH_INFO_LOGGERS": "causerie.associations"}
        proc = subprocess.Popen([sys.executable, __file__, *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=server_log)
        try:
            wait_healthy(port)
            url = f"http://127.0.0.1:{port}"
            slug = asyncio.run(make_cafe(database_url))[0] if server == "causerie" else "x"
            ctx = mp.get_context("spawn")
            ready, go, results, leave = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Queue()
            last = {max(0, (os.cpu_count() or 1) - 1)}
            share = [size // client_procs + (1 if i < size % client_procs else 0)
                     for i in range(client_procs)]
            workers = [ctx.Process(target=storm_process,
                                   args=(url, slug, n, ready, go, results, leave, last))
                       for n in share]
            for w in workers:
                w.start()
            for _ in workers:
                ready.get(timeout=300)
            cpu0 = cpu_seconds(proc.pid)
            outcome, delays, sent = asyncio.run(_storm(url, slug, go, results, len(workers),
                                                       timeout))
            cpu = cpu_seconds(proc.pid) - cpu0
            peak = (asyncio.run(_stored_peak(database_url, slug))
                    if server == "causerie" and outcome is not None else None)
            for _ in workers:
                leave.put(True)
            for w in workers:
                w.join(30)
            writes = sum("attendance peak cafe=" in line
                         for line in Path(log_path).read_text().splitlines())
        finally:
            proc.terminate()
            proc.wait(10)
            if database_url.startswith("postgresql"):
                asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    label = f"N={size:5d} {server:9s} {backend if server == 'causerie' else '':8s}"
    if outcome is None:
        print(f"{label}: not every join acked within {timeout:.0f} s "
              f"(load {load0})", flush=True)
        return
    times = [t for t, _ in outcome]
    errors = {code: sum(1 for _, c in outcome if c == code) for _, code in outcome
              if code != "ok"}
    total = max(times)
    print(f"{label}: {len(outcome)} joins in {total:5.2f} s "
          f"({len(outcome) / total:6.0f} joins/s)  ack p50 {statistics.median(times):5.2f} s "
          f"p99 {pct(times, 0.99):5.2f} s  error acks {errors or 0}  questions during the storm: "
          f"{len(delays)}/{sent} back, p50 {statistics.median(delays) * 1000 if delays else 0:.0f}"
          f" ms p99 {pct(delays, 0.99) * 1000:.0f} ms max "
          f"{max(delays, default=0) * 1000:.0f} ms  server CPU {cpu:.1f} s  "
          f"load {load0}->{loadavg()}", flush=True)
    server_log.close()
    if peak is not None:
        print(f"{label}: stored peak while live {peak} ({len(outcome) + 1} parents), "
              f"{writes} peak writes", flush=True)


async def _stored_peak(database_url: str, slug: str) -> int | None:
    """The café's stored attendance peak, once the recorder's interval passed."""
    from sqlalchemy import select

    from sessions.attendance import PeakPolicy
    from sessions.storage.tables import cafes
    from transcripts.search import open_database

    await asyncio.sleep(PeakPolicy().interval + 1)
    db = open_database(database_url)
    try:
        async with db.connect() as conn:
            value = (await conn.execute(select(cafes.c.peak_parents)
                                        .where(cafes.c.slug == slug))).scalar_one()
    finally:
        await db.close()
    return None if value is None else int(value)


async def _storm(url: str, slug: str, go: Any, results: Any, workers: int,
                 wait: float) -> tuple[list[tuple[float, str]] | None, list[float], int]:
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(url, slug, stop))
    await asyncio.sleep(1.0)  # the watcher joined and chats
    start = time.time()
    for _ in range(workers):
        go.put(start)
    outcome: list[tuple[float, str]] = []
    try:
        for _ in range(workers):
            outcome += await asyncio.to_thread(results.get, True, wait)
    except queue.Empty:
        stop.set()
        await watcher
        return None, [], 0
    stop.set()
    delays, sent = await watcher
    return outcome, delays, sent


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        port, database_url, redis_url, data_dir, stock = sys.argv[2:7]
        serve(int(port), database_url, redis_url, data_dir, stock == "1")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "plain":
        serve_plain(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000")
    parser.add_argument("--servers", default="plain,causerie")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="Causerie's database (postgres: a throwaway database on "
                             "CAUSERIE_BENCH_POSTGRES_URL's server)")
    args = parser.parse_args()
    print(machine(), flush=True)
    print(f"server pinned to core 0, clients on core {(os.cpu_count() or 1) - 1} "
          f"({args.client_processes} processes); every join sent at one signal", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        for server in (s.strip() for s in args.servers.split(",")):
            bench(size, server, args.client_processes, args.timeout, args.backend)


if __name__ == "__main__":
    main()
