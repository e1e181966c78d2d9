"""`causerie org create|list`, and the `--org` / `--platform` choices of `admin create` and
`cafe create` (the command line acts as the platform operator: `OPERATOR`)."""

from __future__ import annotations

import argparse
import asyncio

from server.config import Config, ensure_secret_key
from sessions.associations import validate_association
from sessions.service_associations import OPERATOR
from sessions.service_cafes import CafeService


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    org = sub.add_parser("org", help="associations (organisations)")
    org_sub = org.add_subparsers(dest="org_command", required=True)
    create = org_sub.add_parser("create", help="create an association; prints its slug")
    create.add_argument("--name", required=True)
    create.add_argument("--slug", help="default: made from the name")
    create.add_argument("--website", default="")
    create.add_argument("--description", default="")
    create.add_argument("--colour", default="", help="accent colour, #rrggbb")
    create.add_argument("--help-numbers", default="",
                        help="help numbers, one a line (the safeguarding banner's defaults)")
    create.set_defaults(run=cmd_org_create)
    org_sub.add_parser("list", help="list the associations").set_defaults(run=cmd_org_list)


def cmd_org_create(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_org_create(args, config))


async def _org_create(args: argparse.Namespace, config: Config) -> int:
    from server.cli import _service

    service, db = _service(ensure_secret_key(config))
    try:
        draft = validate_association(name=args.name, description=args.description,
                                     website=args.website, colour=args.colour,
                                     help_numbers=args.help_numbers.replace("\\n", "\n"))
        association = await service.associations.create(OPERATOR, draft, args.slug or None)
    finally:
        await db.close()
    print(association.slug)
    return 0


def cmd_org_list(_args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_org_list(config))


async def _org_list(config: Config) -> int:
    from server.cli import _service

    service, db = _service(ensure_secret_key(config))
    try:
        async with db.transaction() as conn:
            await service.associations.default(conn)  # a new database has its first one
        every = await service.associations.all()
        counts = await _cafe_counts(service)
    finally:
        await db.close()
    for association in every:
        print(f"{association.slug}\t{association.name}\t{counts.get(association.id, 0)} cafés"
              f"\t{association.website}")
    return 0


async def _cafe_counts(service: CafeService) -> dict[int, int]:
    import sqlalchemy as sa

    from sessions.storage.tables import cafes

    async with service.db.connect() as conn:
        rows = await conn.execute(sa.select(cafes.c.association_id, sa.func.count())
                                  .group_by(cafes.c.association_id))
        return {int(a): int(n) for a, n in rows}


async def association_id(service: CafeService, slug: str | None) -> int | None:
    """The id of `--org SLUG` (NotFound for an unknown slug); None without `--org`."""
    if not slug:
        return None
    return (await service.associations.get(slug)).id
