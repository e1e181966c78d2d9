"""Typed application state of the HTTP edge."""

from __future__ import annotations

from aiohttp import web

from server.config import Config
from server.i18n import Catalogs
from server.metrics import Metrics
from sessions.clock import Clock
from sessions.service_cafes import CafeService
from sessions.services import Services
from sessions.storage.database import Database

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
DATABASE = web.AppKey("database", Database)
CAFES = web.AppKey("cafes", CafeService)
SERVICES = web.AppKey("services", Services)  # built in server.composition
CATALOGS = web.AppKey("catalogs", Catalogs)
METRICS = web.AppKey("metrics", Metrics)
