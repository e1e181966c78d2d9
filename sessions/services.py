"""`Services`: the sessions services of one server process, built once by the composition
root (`server.composition`) and handed to the realtime edge and the HTTP views."""

from __future__ import annotations

from dataclasses import dataclass

from sessions.service_cafes import CafeService
from sessions.service_help import HelpService
from sessions.service_moderation import ModerationService
from sessions.service_qa import QaService
from sessions.service_reports import ReportService
from sessions.service_snapshots import SnapshotService
from sessions.service_stage import StageService
from sessions.service_watch import WatchService


@dataclass(frozen=True, slots=True)
class Services:
    cafes: CafeService
    qa: QaService
    stage: StageService
    moderation: ModerationService
    watch: WatchService
    cafe_help: HelpService
    snapshots: SnapshotService
    reports: ReportService
