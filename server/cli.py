"""The `causerie` command: serve, worker, db upgrade, org create|list, cafe create, admin
create, transcribe, search, export."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from server import cli_associations, logs
from server.composition import build_cafe_service
from server.config import Config, ConfigError, ensure_secret_key, load_config
from server.migrate import current_revision, head_revision, upgrade
from sessions.cafe import validate_draft
from sessions.clock import SystemClock
from sessions.errors import CauserieError
from sessions.roles import Role
from sessions.service_cafes import CafeService
from sessions.storage.database import Database

log = logging.getLogger("causerie.cli")

Command = Callable[[argparse.Namespace, Config], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="causerie", description=__doc__)
    parser.add_argument("--config", type=Path, help="a TOML file of settings")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true",
                       help="create a demo café (and organiser) if there is none")
    serve.set_defaults(run=cmd_serve)

    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)

    cafe = sub.add_parser("cafe", help="cafés")
    cafe_sub = cafe.add_subparsers(dest="cafe_command", required=True)
    create = cafe_sub.add_parser("create", help="schedule a café; prints its invitation links")
    create.add_argument("--title", required=True)
    create.add_argument("--starts-at", required=True,
                        help="ISO date and time, e.g. 2026-12-03T20:00 (config time zone)")
    create.add_argument("--theme", required=True)
    create.add_argument("--description", default="")
    create.add_argument("--language", default="fr", choices=["fr", "en"])
    create.add_argument("--duration", type=int, default=60, help="minutes")
    create.add_argument("--glossary", default="", help="words of the café, for transcription")
    create.add_argument("--org", help="the association's slug (default: the first one)")
    create.set_defaults(run=cmd_cafe_create)

    admin = sub.add_parser("admin", help="organiser accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    admin_create = admin_sub.add_parser("create", help="create an organiser account")
    admin_create.add_argument("--email", required=True)
    admin_create.add_argument("--name", required=True)
    admin_create.add_argument("--password-stdin", action="store_true",
                              help="read the password from standard input")
    admin_scope = admin_create.add_mutually_exclusive_group()
    admin_scope.add_argument("--org", help="the association's slug (default: the first one)")
    admin_scope.add_argument("--platform", action="store_true",
                             help="the platform administrator (creates associations)")
    admin_create.set_defaults(run=cmd_admin_create)
    admin_password = admin_sub.add_parser(
        "password", help="set an organiser's password and log out all of their browsers")
    admin_password.add_argument("--email", required=True)
    admin_password.add_argument("--password-stdin", action="store_true",
                                help="read the password from standard input")
    admin_password.set_defaults(run=cmd_admin_password)

    cli_associations.add_commands(sub)
    for extend in EXTENSIONS:
        extend(sub)
    return parser


# Other packages add their subcommands here (transcripts: transcribe, search, export, worker).
EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if getattr(args, "host", None):
            config = config.model_copy(update={"host": args.host})
        if getattr(args, "port", None):
            config = config.model_copy(update={"port": args.port})
    except ConfigError as exc:
        print(f"causerie: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level, config.log_format)
    run: Command = args.run
    try:
        return run(args, config)
    except ConfigError as exc:
        print(f"causerie: {exc}", file=sys.stderr)
        return 2
    except CauserieError as exc:
        print(f"causerie: {exc}", file=sys.stderr)
        return 1


def _load_extensions() -> None:
    if EXTENSIONS:
        return
    try:
        from transcripts import cli as transcripts_cli
        from transcripts import retention_cli
    except ImportError:  # transcripts not installed in this build
        return
    EXTENSIONS.extend((transcripts_cli.add_commands, retention_cli.add_commands))


def cmd_db_upgrade(_args: argparse.Namespace, config: Config) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(config.effective_database_url, first_association=config.first_association)
    print(f"database at revision {head_revision()}")
    return 0


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from aiohttp import web

    from server.app import create_app, freeze_startup_objects

    config = ensure_secret_key(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if current_revision(config.effective_database_url) != head_revision():
        raise ConfigError("the database schema is not up to date: run `causerie db upgrade`")
    if args.demo or config.demo_cafe:
        asyncio.run(_ensure_demo(config))
    app = create_app(config)
    app.on_startup.append(freeze_startup_objects)
    print(f"Causerie on {config.base_url}/", flush=True)
    web.run_app(app, host=config.host, port=config.port, print=None, shutdown_timeout=10,
                **logs.access_log_options())
    return 0


def cmd_cafe_create(args: argparse.Namespace, config: Config) -> int:
    config = ensure_secret_key(config)
    return asyncio.run(_cafe_create(args, config))


async def _cafe_create(args: argparse.Namespace, config: Config) -> int:
    tz = ZoneInfo(config.timezone)
    try:
        starts_at = datetime.fromisoformat(args.starts_at)
    except ValueError:
        raise ConfigError(f"--starts-at: not an ISO date and time: {args.starts_at!r}") from None
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=tz)
    service, db = _service(config)
    try:
        draft = validate_draft(
            title=args.title, description=args.description, theme=args.theme,
            language=args.language, starts_at=starts_at, duration_minutes=args.duration,
            glossary=args.glossary, now=datetime.now(UTC), is_new=True)
        cafe = await service.create_cafe(
            draft, None, await cli_associations.association_id(service, args.org))
        expert = await service.invite(cafe.id, Role.EXPERT)
        moderator = await service.invite(cafe.id, Role.MODERATOR)
    finally:
        await db.close()
    print(f"slug: {cafe.slug}")
    print(f"page: {config.base_url}/cafes/{cafe.slug}")
    print(f"expert: {config.base_url}/cafes/{cafe.slug}?invite={expert.token}")
    print(f"moderator: {config.base_url}/cafes/{cafe.slug}?invite={moderator.token}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("CAUSERIE_ADMIN_PASSWORD"):
        return os.environ["CAUSERIE_ADMIN_PASSWORD"]
    return getpass.getpass("Password: ")


def cmd_admin_create(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_admin_create(config, args.email, args.name, _read_password(args),
                                     org=args.org, platform=args.platform))


def cmd_admin_password(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_admin_password(config, args.email, _read_password(args)))


async def _admin_password(config: Config, email: str, password: str) -> int:
    from server.auth import reset_password
    from server.login_sessions import login_store

    service, db = _service(ensure_secret_key(config))
    logins = login_store(db, config.redis_url)
    try:
        organiser_id = await reset_password(service, logins, email, password)
    finally:
        await logins.close()
        await db.close()
    print(f"organiser {organiser_id}: password set, every login ended")
    return 0


async def _admin_create(config: Config, email: str, name: str, password: str, *,
                        org: str | None = None, platform: bool = False) -> int:
    from server.auth import create_organiser

    service, db = _service(ensure_secret_key(config))
    try:
        organiser_id = await create_organiser(
            service, email, name, password, platform_admin=platform,
            association_id=await cli_associations.association_id(service, org))
    finally:
        await db.close()
    what = "platform administrator" if platform else "organiser"
    print(f"{what} {organiser_id} created: {email}")
    return 0


async def _ensure_demo(config: Config) -> None:
    import secrets

    from server.auth import create_organiser

    service, db = _service(config)
    try:
        listing = await service.portal()
        if listing.live or listing.upcoming:
            return
        starts_at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=30)
        draft = validate_draft(
            title="Cyber-harcèlement : en parler avec ses enfants",
            description=(
                "Une psychologue répond à vos questions sur le harcèlement en ligne : "
                "reconnaître les signes, en parler, agir avec l'école.\n\n"
                "Vos questions sont lues par un modérateur avant d'être transmises."
            ),
            theme="cyber-harassment", language="fr", starts_at=starts_at,
            duration_minutes=60, glossary="harcèlement, réseaux sociaux, e-Enfance, 3018",
            now=datetime.now(UTC), is_new=True)
        cafe = await service.create_cafe(draft, None)
        expert = await service.invite(cafe.id, Role.EXPERT)
        moderator = await service.invite(cafe.id, Role.MODERATOR)
        password = secrets.token_urlsafe(12)
        email = f"demo-{secrets.token_hex(3)}@causerie.invalid"
        await create_organiser(service, email, "Organisatrice démo", password)
    finally:
        await db.close()
    base = config.base_url
    print("Demo café created:", flush=True)
    print(f"  page:      {base}/cafes/{cafe.slug}")
    print(f"  expert:    {base}/cafes/{cafe.slug}?invite={expert.token}")
    print(f"  moderator: {base}/cafes/{cafe.slug}?invite={moderator.token}")
    print(f"  organiser login: {email} / {password}", flush=True)


def _service(config: Config) -> tuple[CafeService, Database]:
    from transcripts.search import open_database

    db = open_database(config.effective_database_url)
    return build_cafe_service(config, db, SystemClock()), db


if __name__ == "__main__":
    sys.exit(main())
