"""Typed keys for what the application shares between handlers (aiohttp ``AppKey``)."""

from __future__ import annotations

from aiohttp import web

from server.settings import Settings
from server.uploads.service import UploadService
from server.uploads.streams import StreamUploads

SETTINGS = web.AppKey("settings", Settings)
UPLOADS = web.AppKey("uploads", UploadService)
STREAMS = web.AppKey("streams", StreamUploads)
