"""Typed aiohttp app state owned by the transcripts package."""

from __future__ import annotations

from aiohttp import web

from transcripts.runtime import Transcripts

TRANSCRIPTS: web.AppKey[Transcripts] = web.AppKey("transcripts", Transcripts)
