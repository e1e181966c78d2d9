"""report.create, report.resolve: parse -> the reports service -> emit its events (and, for
a ban, revoke the banned member's invitation everywhere, as `moderation.ban` does)."""

from __future__ import annotations

from signaling import messages as m
from signaling import standing
from signaling.events import Ack, EventSpec
from signaling.hub import Connection, Hub


async def report_create(hub: Hub, conn: Connection, msg: m.ReportCreate) -> Ack:
    assert conn.actor is not None
    events = await hub.services().reports.file(conn.actor, msg.kind, msg.target_id,
                                               msg.reason, msg.note)
    await hub.carry_out(events)
    return {}


async def report_resolve(hub: Hub, conn: Connection, msg: m.ReportResolve) -> Ack:
    actor = conn.actor
    assert actor is not None
    services = hub.services()
    resolved = await services.reports.resolve(actor, msg.report_id, msg.resolution)
    if resolved.banned is not None:
        invitation_id = await services.moderation.revoked_invitation_of(actor.cafe_id,
                                                                        resolved.banned)
        if invitation_id is not None:
            await standing.revoke(hub, invitation_id, resolved.effects)
            return {}
    await hub.carry_out(resolved.effects)
    return {}


EVENTS: dict[str, EventSpec] = {
    "report.create": EventSpec(m.ReportCreate, report_create),
    "report.resolve": EventSpec(m.ReportResolve, report_resolve),
}
