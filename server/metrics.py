"""Operability: ``GET /metrics`` (Prometheus' text format) and ``GET /healthz``.

One ``prometheus_client`` registry per application (never the process-wide default, so tests can run several
apps). What is measured, where:

- ``rt_requests_seconds{route}``: the time of every request by route pattern (``/api/upload`` is the chunk
  latency), from the metrics middleware, outermost;
- ``rt_errors_total{error}``: error answers by their stable name, from the error middleware (``count_error``);
- ``rt_upload_bytes_total``: chunk bytes stored, from the chunk handler (``count_upload``);
- ``rt_download_bytes_total``: bytes of the download bodies answered (``/download/`` and ``/upload/``,
  200 and 206), counted when the answer starts;
- ``rt_uploads_in_progress`` and ``rt_open_connections``: read when scraped.

``/healthz`` answers 200 when the storage answers a query and its disk keeps ``--min-free-bytes`` free, else
503 with the reason (a load balancer takes the instance out until it is fixed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from server import envelope
from server.errors import ApiError, E
from server.keys import SETTINGS, UPLOADS

# Seconds; a 1 MiB chunk on loopback takes a few ms, over a slow link seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DOWNLOAD_PREFIXES = ("/download/", "/upload/")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "rt_requests_seconds",
            "Time to answer a request, by route",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "rt_errors", "Error answers, by their error name", ["error"], registry=self.registry
        )
        self.upload_bytes = Counter("rt_upload_bytes", "Chunk bytes stored", registry=self.registry)
        self.download_bytes = Counter(
            "rt_download_bytes", "Bytes of download bodies answered (200 and 206)", registry=self.registry
        )
        self.uploads = Gauge("rt_uploads_in_progress", "Unfinished uploads kept", registry=self.registry)
        self.connections = Gauge("rt_open_connections", "Client connections open", registry=self.registry)
        self.count_connections: Callable[[], int] | None = None  # set by whoever runs the server
        self._timers: dict[str, Histogram] = {}  # route -> its child of ``requests`` (labels() costs a lock)

    def timer(self, route: str) -> Histogram:
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = self.requests.labels(route)
        return timer


METRICS = web.AppKey("metrics", Metrics)


def count_error(request: web.Request, error: ApiError) -> None:
    request.app[METRICS].errors.labels(error.kind.name).inc()


def count_upload(request: web.Request, size: int) -> None:
    request.app[METRICS].upload_bytes.inc(size)


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], object]
) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)  # type: ignore[misc]
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        request.app[METRICS].timer(name).observe(time.perf_counter() - started)
    assert isinstance(response, web.StreamResponse)
    if (
        request.method == "GET"
        and response.status in (200, 206)
        and request.path.startswith(DOWNLOAD_PREFIXES)
        and response.content_length
    ):
        request.app[METRICS].download_bytes.inc(response.content_length)
    return response


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    m.uploads.set(await request.app[UPLOADS].uploads_in_progress())
    if m.count_connections is not None:
        m.connections.set(m.count_connections())
    return web.Response(body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    service, margin = request.app[UPLOADS], request.app[SETTINGS].min_free_bytes
    try:
        uploads = await service.uploads_in_progress()
        free = await service.free_bytes()
    except Exception as exc:  # noqa: BLE001 - any failure of the storage is the answer
        raise ApiError(E.UNHEALTHY, f"the storage does not answer: {exc}") from None
    if free is not None and free < margin:
        raise ApiError(E.UNHEALTHY, f"the disk keeps {free} bytes free, less than --min-free-bytes {margin}")
    return envelope.ok({"status": "ok", "uploadsInProgress": uploads, "freeBytes": free})


def setup(app: web.Application) -> None:
    app[METRICS] = Metrics()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
