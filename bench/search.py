"""Search latency over ~1,000 hours of French transcript (~720,000 segments), SQLite and
PostgreSQL, a mix of query kinds; prints p50/p95 per kind and overall, and the machine.

    .venv/bin/python bench/search.py                    # both backends
    .venv/bin/python bench/search.py --backend sqlite --hours 100
    .venv/bin/python bench/search.py --load 4           # with 4 busy processes beside it

Each search is timed twice in the same round: the product's path (`transcripts.search`:
statements built once per shape of query, values as parameters) and the plain one (the
statement built and compiled by SQLAlchemy for each search).

The corpus is generated once from a seeded vocabulary (Zipf-like word frequencies, about 15
words per 5-second segment) and kept: SQLite in ``var/bench/search-<hours>h-v<N>.db``, PostgreSQL
in the database ``causerie_bench_search_v<N>`` (``CAUSERIE_BENCH_POSTGRES_URL``, default the test
server). ``--rebuild`` starts over. Goal: p95 < 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sessions.storage.database import Database
from sessions.storage.repo_associations import first_association_id
from sessions.storage.tables import cafes, metadata, recordings, segments
from transcripts import search_postgres, search_sqlite
from transcripts.search import (
    SearchFilters,
    install_search_index,
    open_database,
    search,
    uninstall_search_index,
)

SEGMENT_SECONDS = 5.0
CAFE_HOURS = 1.5
THEMES = ("cyber-harassment", "screens", "video-games", "social-networks", "fake-news")
PG_URL = os.environ.get(
    "CAUSERIE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CORPUS_VERSION = 2  # bump when the generator changes: the cached corpus is rebuilt
PG_DATABASE = f"causerie_bench_search_v{CORPUS_VERSION}"

SUBJECTS = (
    "les enfants", "mon fils", "ma fille", "les parents", "l'école", "le collège", "les ados",
    "la famille", "les professeurs", "l'experte", "les copains", "le pédiatre", "les éducateurs",
    "notre association", "la psychologue", "les grands-parents", "le conseiller principal",
)
VERBS = (
    "parlent de", "découvrent", "regardent", "utilisent", "évitent", "signalent", "comprennent",
    "partagent", "bloquent", "craignent", "expliquent", "protègent", "limitent", "discutent de",
    "racontent", "encadrent", "surveillent", "accompagnent", "écoutent", "préviennent",
)
OBJECTS = (
    "le harcèlement", "le cyber-harcèlement", "les écrans", "les jeux vidéo", "les réseaux sociaux",
    "les fausses informations", "le téléphone portable", "la tablette", "les messages privés",
    "les captures d'écran", "le contrôle parental", "le temps d'écran", "les influenceurs",
    "la vie privée", "les mots de passe", "les photos", "les vidéos en ligne", "le sommeil",
    "les devoirs", "la confiance", "les insultes", "les moqueries", "la rumeur", "l'isolement",
    "les plateformes", "les notifications", "les algorithmes", "la publicité", "les achats",
    "les applications", "le groupe de classe", "les commentaires", "les abonnés", "les défis",
)
TAILS = (
    "le soir avant de dormir", "pendant les vacances", "à la maison", "en classe",
    "sans en parler aux adultes", "avec beaucoup d'inquiétude", "depuis la rentrée",
    "tous les jours", "le week-end", "dans la cour de récréation", "sur internet",
    "quand personne ne regarde", "avec leurs amis", "de plus en plus tôt", "en cachette",
    "grâce au dialogue", "au moment du repas", "dès l'âge de onze ans", "chaque semaine",
)
OBJECT_WEIGHTS = [1 / (rank + 3) for rank in range(len(OBJECTS))]
FILLERS = (
    "Alors", "Donc", "En fait", "Vous voyez", "Bien sûr", "Souvent", "Parfois", "Aujourd'hui",
    "D'abord", "Ensuite", "Finalement", "Honnêtement", "Concrètement", "Attention",
)
RARE = (
    "anxiété", "dépendance", "signalement", "plainte", "gendarmerie", "médiateur", "bienveillance",
    "pornographie", "usurpation", "chantage", "sextorsion", "désinformation", "complotisme",
    "cyberviolence", "addiction", "rééducation", "neurosciences", "dopamine", "procrastination",
)
SPEAKERS = ("Experte", "Expert", "Parent", "Modératrice", "Invité")

QUERIES: dict[str, list[str]] = {
    "common word": ["enfants", "parents", "écrans", "téléphone", "famille", "jeux"],
    "accentless": ["harcelement", "ecole", "college", "reseaux", "ecran", "inquietude"],
    "two words": ["harcèlement école", "jeux soir", "réseaux sociaux confiance",
                  "téléphone dormir", "photos vie privée", "parents tablette"],
    "phrase": ['"jeux vidéo"', '"contrôle parental"', '"réseaux sociaux"',
               '"cour de récréation"', '"mots de passe"', '"temps d\'écran"'],
    "prefix": ["harcel*", "cyber*", "notif*", "influen*", "algo*", "surveil*"],
    "rare word": ["sextorsion", "gendarmerie", "dopamine", "complotisme", "usurpation",
                  "neurosciences"],
    "filtered": ["harcèlement", "écrans", "téléphone", "confiance", "sommeil", "rumeur"],
    "no match": ["zzyzx", "photosynthèse", "quantique", "kangourou", "xylophone", "volcan"],
}


def sentences(rng: random.Random) -> Iterator[str]:
    while True:
        parts = []
        if rng.random() < 0.35:
            parts.append(rng.choice(FILLERS) + ",")
        parts.append(rng.choice(SUBJECTS))
        parts.append(rng.choice(VERBS))
        # Zipf-like: the first objects more often than the last (weights 1/(rank + 3): the
        # most frequent in ~12% of sentences, the least in ~1%).
        parts.append(rng.choices(OBJECTS, OBJECT_WEIGHTS)[0])
        if rng.random() < 0.7:
            parts.append(rng.choice(TAILS))
        if rng.random() < 0.03:
            parts.append("et la " + rng.choice(RARE))
        text = " ".join(parts)
        yield text[0].upper() + text[1:] + rng.choice((".", ".", ".", " ?", " !"))


def corpus_rows(hours: float, seed: int = 7) -> Iterator[tuple[list[dict[str, object]],
                                                          list[dict[str, object]]]]:
    """Batches of (cafes, segments) rows, one café per batch."""
    rng = random.Random(seed)
    gen = sentences(rng)
    per_cafe = int(CAFE_HOURS * 3600 / SEGMENT_SECONDS)
    n_cafes = max(1, round(hours / CAFE_HOURS))
    start = datetime(2024, 1, 1, 18, tzinfo=UTC)
    seg_id = 0
    for c in range(1, n_cafes + 1):
        cafe = {
            "id": c, "slug": f"cafe-{c}", "title": f"Café {c}", "theme": THEMES[c % len(THEMES)],
            "starts_at": start + timedelta(days=c), "duration_minutes": 90, "status": "ended",
            "transcript_published": c % 10 != 0, "created_at": start,
        }
        segs: list[dict[str, object]] = []
        for i in range(per_cafe):
            seg_id += 1
            text = next(gen)
            if rng.random() < 0.5:
                text += " " + next(gen)
            segs.append({
                "id": seg_id, "cafe_id": c, "recording_id": c,
                "start_seconds": i * SEGMENT_SECONDS, "end_seconds": (i + 1) * SEGMENT_SECONDS,
                "speaker": rng.choice(SPEAKERS), "text": text, "words": [], "seq": i,
            })
        yield [cafe], segs


async def build(db: Database, hours: float) -> int:
    async with db.transaction() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
        if not db.is_sqlite:
            # Bulk load first, index after: much faster than a GIN insert per row.
            await conn.run_sync(install_search_index)
            await conn.run_sync(search_postgres.drop_indexes)
    total = 0
    t0 = time.perf_counter()
    async with db.transaction() as conn:
        association_id = await first_association_id(conn)
    for cafe_rows, seg_rows in corpus_rows(hours):
        async with db.transaction() as conn:
            await conn.execute(cafes.insert(), [{**row, "association_id": association_id}
                                                for row in cafe_rows])
            await conn.execute(recordings.insert(), [{
                "id": cafe_rows[0]["id"], "cafe_id": cafe_rows[0]["id"], "speaker": "Experte",
                "path": "/dev/null", "offset_seconds": 0.0, "status": "transcribed",
                "created_at": cafe_rows[0]["created_at"]}])
            await conn.execute(segments.insert(), seg_rows)
        total += len(seg_rows)
        if total % 96_000 < len(seg_rows):
            print(f"  {total:,} segments, {time.perf_counter() - t0:.0f} s", flush=True)
    await index(db)
    print(f"  built {total:,} segments in {time.perf_counter() - t0:.0f} s", flush=True)
    return total


async def index(db: Database, again: bool = False) -> None:
    """Install the search index (SQLite: stems every segment), or drop and install it again
    (``again``: a corpus built by an older version of the index; on PostgreSQL the install
    upgrades it in place, as migration 0014 does, instead of computing every vector again)."""
    t0 = time.perf_counter()
    async with db.transaction() as conn:
        if again and db.is_sqlite:
            await conn.run_sync(uninstall_search_index)
        await conn.run_sync(install_search_index)
        if db.is_sqlite:
            await conn.run_sync(search_sqlite.optimize)
        await conn.exec_driver_sql("ANALYZE")
    print(f"  search index built in {time.perf_counter() - t0:.0f} s", flush=True)


async def index_is_current(db: Database) -> bool:
    async with db.connect() as conn:
        if db.is_sqlite:
            sql = (f"SELECT 1 FROM sqlite_master WHERE name = '{search_sqlite.THEMED_TABLE}'")
        else:
            sql = (f"SELECT 1 FROM pg_indexes WHERE indexname ="
                   f" '{search_postgres.INDEX_NAME}_s{search_postgres.BUCKETS - 1}'")
        return bool(await conn.scalar(sa.text(sql)))


async def count_segments(db: Database) -> int:
    try:
        async with db.connect() as conn:
            return int(await conn.scalar(sa.select(sa.func.count()).select_from(segments)) or 0)
    except sa.exc.DBAPIError:
        return 0


async def ensure_pg_database() -> str:
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DATABASE})
            if not exists:
                await conn.exec_driver_sql(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await admin.dispose()
    return make_url(PG_URL).set(database=PG_DATABASE).render_as_string(hide_password=False)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(backend: str, hours: float, rebuild: bool, rounds: int,
              reindex: bool = False) -> dict[str, list[float]]:
    if backend == "sqlite":
        path = Path("var/bench") / f"search-{hours:g}h-v{CORPUS_VERSION}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{path.resolve()}"
    else:
        url = await ensure_pg_database()
    db = open_database(url)
    expected = round(hours / CAFE_HOURS) * int(CAFE_HOURS * 3600 / SEGMENT_SECONDS)
    have = await count_segments(db)
    print(f"\n== {backend}: {url.split('@')[-1]}", flush=True)
    if rebuild or have != expected:
        print(f"  generating {expected:,} segments ({hours:g} h of speech)...", flush=True)
        await build(db, hours)
    else:
        print(f"  reusing {have:,} segments", flush=True)
        if reindex or not await index_is_current(db):
            print("  indexing again (the search index changed)", flush=True)
            await index(db, again=True)
    timings: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    plain: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    # CPU of this process (SQLite runs in it; for PostgreSQL, the client side only).
    cpu: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    plain_cpu: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    hits: dict[str, list[int]] = {kind: [] for kind in QUERIES}
    # Warm-up: one pass not measured (page cache, prepared statements).
    for queries in QUERIES.values():
        for q in queries:
            await search(db, q, limit=20)
    for r in range(rounds):
        for kind, queries in QUERIES.items():
            for i, q in enumerate(queries):
                filters = SearchFilters(theme=THEMES[i % len(THEMES)]) if kind == "filtered" \
                    else SearchFilters()
                offset = 20 if (r % 3 == 2 and kind == "common word") else 0
                t0, c0 = time.perf_counter(), time.process_time()
                result = await search(db, q, limit=20, offset=offset, filters=filters)
                timings[kind].append((time.perf_counter() - t0) * 1000)
                cpu[kind].append((time.process_time() - c0) * 1000)
                hits[kind].append(result.total)
                t0, c0 = time.perf_counter(), time.process_time()
                await search(db, q, limit=20, offset=offset, filters=filters, plain=True)
                plain[kind].append((time.perf_counter() - t0) * 1000)
                plain_cpu[kind].append((time.process_time() - c0) * 1000)
    await db.close()
    print(f"  {'kind':<14} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu ms':>7}"
          f"   plain p50 / p95 / cpu   totals (capped 1000)")
    for kind, values in timings.items():
        totals = sorted(set(hits[kind]))
        shown = ",".join(str(t) for t in totals[:4]) + ("…" if len(totals) > 4 else "")
        print(f"  {kind:<14} {statistics.median(values):8.2f} {pct(values, 95):8.2f} "
              f"{max(values):8.2f} {statistics.median(cpu[kind]):7.2f}   "
              f"{statistics.median(plain[kind]):6.2f} / {pct(plain[kind], 95):6.2f} / "
              f"{statistics.median(plain_cpu[kind]):5.2f}  {shown}")
    every = [v for values in timings.values() for v in values]
    every_plain = [v for values in plain.values() for v in values]
    every_cpu = [v for values in cpu.values() for v in values]
    every_plain_cpu = [v for values in plain_cpu.values() for v in values]
    print(f"  {'ALL':<14} {statistics.median(every):8.2f} {pct(every, 95):8.2f} "
          f"{max(every):8.2f} {statistics.median(every_cpu):7.2f}   "
          f"{statistics.median(every_plain):6.2f} / {pct(every_plain, 95):6.2f} / "
          f"{statistics.median(every_plain_cpu):5.2f}  ({len(every)} searches each)")
    return timings


def uptime() -> str:
    """The load averages (1, 5, 15 min): the machine is shared, say how loaded it was."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    return (f"{platform.node()} {platform.system()} {platform.release()}, {cpu}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


async def main(args: argparse.Namespace) -> None:
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        await run(backend, args.hours, args.rebuild, args.rounds, args.reindex)
        print("uptime:", uptime(), flush=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--hours", type=float, default=1000.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--reindex", action="store_true",
                        help="drop and build the search index again, keep the corpus")
    parser.add_argument("--load", type=int, default=0,
                        help="busy processes (one CPU each) running beside the searches")
    parser.add_argument("--load-nice", type=int, default=0,
                        help="their nice level (the product's transcription runs at 15)")
    args = parser.parse_args()
    print("machine:", machine())
    print("uptime:", uptime(), flush=True)
    burners = [subprocess.Popen(["nice", "-n", str(args.load_nice), sys.executable, "-c",
                                 "while True: pass"]) for _ in range(args.load)]
    if burners:
        print(f"  {len(burners)} busy processes (nice {args.load_nice}) beside the searches",
              flush=True)
    try:
        asyncio.run(main(args))
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


if __name__ == "__main__":
    cli()
