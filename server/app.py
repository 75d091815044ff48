"""The application factory: settings in, a ready ``web.Application`` out (storage, service, sweeper, routes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server import downloads, embed, metrics, openapi, page, repr_digests, served
from server.access.middleware import access_middleware
from server.client_limits import ClientLimits, TokenBuckets, parse_networks
from server.keys import SETTINGS, STREAMS, UPLOADS
from server.metrics import metrics_middleware
from server.middleware import (
    CLIENT_LIMITS,
    client_limits_middleware,
    cors_middleware,
    error_middleware,
    host_middleware,
)
from server.resumable import routes as resumable_routes
from server.settings import Settings
from server.storage.contract import Store
from server.storage.local import LocalStorage
from server.uploads import handlers as upload_handlers
from server.uploads.service import UploadService
from server.uploads.streams import StreamUploads

log = logging.getLogger(__name__)


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[UPLOADS].open()
    yield
    await app[UPLOADS].close()


async def _sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    """Expire abandoned uploads in the background, every ``sweep_interval_seconds``."""

    async def loop() -> None:
        while True:
            try:
                await app[UPLOADS].sweep()
            except Exception:  # a failed sweep must not stop the next one
                log.exception("sweep failed")
            await asyncio.sleep(app[SETTINGS].sweep_interval_seconds)

    task = asyncio.create_task(loop(), name="upload-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[
            metrics_middleware,
            cors_middleware,
            error_middleware,
            host_middleware,
            client_limits_middleware,
            access_middleware,  # --auth-secret: tokens (after the limits, so refusals are rate-limited too)
        ],
        client_max_size=settings.max_handshake_bytes,  # bounds request.read(); chunks are streamed
    )
    storage: Store
    if settings.clustered:  # several instances share PostgreSQL and S3
        from server.storage.cluster.store import ClusterStore  # asyncpg and botocore: only when used

        storage = ClusterStore(settings.database, settings.storage)
    else:
        storage = LocalStorage(settings.data_dir, fsync=settings.fsync)
    app[SETTINGS] = settings
    rate, hourly = settings.requests_per_second_per_client, settings.max_upload_bytes_per_hour_per_client
    app[CLIENT_LIMITS] = ClientLimits(
        requests=TokenBuckets(rate, burst=max(1.0, rate)) if rate > 0 else None,
        upload_bytes=TokenBuckets(hourly / 3600, burst=hourly) if hourly > 0 else None,
        trusted=parse_networks(settings.trusted_proxies),
    )
    # Each file published is hashed in the background for its Repr-Digest (``server.repr_digests``).
    app[UPLOADS] = UploadService(storage, settings, on_published=repr_digests.published_hook(app, storage))
    app[STREAMS] = StreamUploads(app[UPLOADS])
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_sweeper_ctx)
    app.add_routes(upload_handlers.routes)
    app.add_routes(resumable_routes.routes)
    app.add_routes(served.routes)
    metrics.setup(app)
    openapi.setup(app)
    downloads.setup(app)
    page.setup(app)
    embed.setup(app)
    return app
