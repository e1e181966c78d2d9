"""The composition root: the sessions services are built here, once per process, from the
typed config, and handed to the realtime edge (`setup_signaling`) and the HTTP views (both
read them under `server.keys.SERVICES`)."""

from __future__ import annotations

from datetime import timedelta

from server.config import Config
from sessions.clock import Clock
from sessions.ratelimit import RateLimiter
from sessions.service_cafes import CafeService
from sessions.service_help import HelpService
from sessions.service_moderation import ModerationService
from sessions.service_qa import QaService
from sessions.service_reports import ReportService
from sessions.service_snapshots import SnapshotService
from sessions.service_stage import StageService
from sessions.services import Services
from sessions.storage.database import Database


def build_cafe_service(config: Config, db: Database, clock: Clock) -> CafeService:
    """The café service alone (the CLI's commands need no other)."""
    return CafeService(db, clock, config.secret_key,
                       invitation_ttl=timedelta(hours=config.invitation_ttl_hours),
                       limits=config.limits,
                       first_association=config.first_association)


def build_services(config: Config, db: Database, clock: Clock,
                   limiter: RateLimiter) -> Services:
    limits = config.limits
    cafes = build_cafe_service(config, db, clock)
    qa = QaService(db, clock, limiter, limits, cafes.watch)
    moderation = ModerationService(db, clock, limiter, limits, cafes.watch)
    return Services(
        cafes=cafes,
        qa=qa,
        stage=StageService(db, clock, limits),
        moderation=moderation,
        watch=cafes.watch,
        cafe_help=HelpService(db, clock),
        snapshots=SnapshotService(db),
        reports=ReportService(db, clock, limiter, limits, qa, moderation),
    )
