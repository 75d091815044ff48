"""Middlewares: CORS for the API and the files (outermost), then the one place errors become answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from server import envelope
from server.client_limits import ClientLimits, charge
from server.errors import ApiError, E
from server.hosts import host_allowed, host_name
from server.keys import SETTINGS
from server.metrics import count_error

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CORS_PATHS = ("/api/", "/upload/", "/download/", "/files")
ALLOWED_METHODS = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = (
    "Content-Type, Range, If-Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, "
    "Tus-Resumable, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Offset, Upload-Checksum, "
    "Upload-Concat, Upload-Complete, Upload-Draft-Interop-Version, X-HTTP-Method-Override, X-Request-ID, "
    "Want-Content-Digest, Want-Repr-Digest, Content-Digest, Repr-Digest, Content-Disposition"
)
# What a page on another origin may read: the downloads' fields (RFC 9530's digests among them), tus's and the
# IETF draft's.
EXPOSED_HEADERS = (
    "Content-Range, Content-Disposition, Content-Length, Accept-Ranges, ETag, Last-Modified, Repr-Digest, "
    "Content-Digest, Location, "
    "Upload-Offset, Upload-Length, Upload-Metadata, Upload-Defer-Length, Upload-Expires, Upload-Concat, "
    "Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm, Upload-Complete, "
    "Upload-Limit, Upload-Draft-Interop-Version"
)


def _origin_allowed(request: web.Request, origin: str) -> bool:
    allowed = request.app[SETTINGS].cors_origins
    own = f"{request.scheme}://{request.host}"
    return "*" in allowed or origin.rstrip("/") in allowed or origin == own


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS (Fetch standard): pages on other origins may call the API if the allow-list admits them."""
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith(CORS_PATHS):
        return await handler(request)
    if not _origin_allowed(request, origin):
        # Refused server-side too, so a disallowed page cannot even store data through a simple request. The
        # refusal itself is readable by that page (it grants nothing), so an embedded uploader can say why.
        refusal = envelope.error(
            ApiError(E.ORIGIN_NOT_ALLOWED, f"origin {origin} is not allowed to use this server")
        )
        refusal.headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin"})
        return refusal
    permissive = "*" in request.app[SETTINGS].cors_origins
    headers = {"Access-Control-Allow-Origin": "*" if permissive else origin}
    if not permissive:
        headers["Vary"] = "Origin"
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        # A preflight: answer it here, whatever route it is for.
        headers |= {
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": request.headers.get(
                "Access-Control-Request-Headers", ALLOWED_HEADERS
            ),
            "Access-Control-Max-Age": "600",
        }
        return web.Response(status=204, headers=headers)
    headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(headers)
        raise
    response.headers.update(headers)
    return response


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``421 Misdirected Request`` for a ``Host`` this server does not answer for (``server.hosts``)."""
    settings = request.app[SETTINGS]
    if not host_allowed(
        request.host, allowed=settings.allowed_hosts, bound_host=settings.host, public_url=settings.public_url
    ):
        raise ApiError(
            E.MISDIRECTED_HOST,
            f"this server does not answer for the host {host_name(request.host)!r}; its operator can allow it "
            "with --allowed-hosts (or set --public-url)",
        )
    return await handler(request)


CLIENT_LIMITS = web.AppKey("client_limits", ClientLimits)
CLIENT = web.RequestKey("client", str)  # who sent the request (client_limits_middleware)


LIMITED_PATHS = ("/api/", "/files")  # the seed's API, tus and the IETF draft


@web.middleware
async def client_limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On the upload APIs: names the client (``request[CLIENT]``), and answers 429 ``RATE_LIMITED`` with
    ``Retry-After`` to a client over its requests per second."""
    if not request.path.startswith(LIMITED_PATHS):
        return await handler(request)
    limits = request.app[CLIENT_LIMITS]
    client = request[CLIENT] = limits.client(request.remote, request.headers.get("X-Forwarded-For"))
    if limits.requests is not None:
        rate = request.app[SETTINGS].requests_per_second_per_client
        charge(limits.requests, client, 1.0, f"more than {rate:g} requests a second from {client}")
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as the seed's envelope: ``ApiError``s, aiohttp's own 4xx, and (logged) crashes."""
    try:
        return await handler(request)
    except ApiError as err:
        count_error(request, err)
        response = envelope.error(err, err.headers or None, request.get(envelope.PROBLEM_DETAILS, False))
        if err.kind is E.BODY_TIMEOUT or (request.body_exists and not request.content.is_eof()):
            # The rest of the body may still come: rather than read (linger over) what nobody wants, the
            # connection ends with the answer.
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        keep = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        err = ApiError.from_status(exc.status, exc.text or exc.reason)
        count_error(request, err)
        return envelope.error(err, headers=keep)
    except Exception as exc:
        condition = ApiError.from_server_condition(exc)
        if condition is not None:  # a full disk: a line, not a traceback
            log.warning(
                "%s %s answered %d: %s", request.method, request.path, condition.status, condition.msg
            )
            count_error(request, condition)
            return envelope.error(
                condition, condition.headers or None, request.get(envelope.PROBLEM_DETAILS, False)
            )
        log.exception("unhandled error in %s %s", request.method, request.path)
        count_error(request, ApiError(E.INTERNAL))
        return envelope.error(ApiError(E.INTERNAL, "internal server error; it has been logged"))


def charge_upload_bytes(request: web.Request, size: int) -> None:
    """429 RATE_LIMITED when this client has sent its upload bytes for the hour (before reading the body)."""
    buckets = request.app[CLIENT_LIMITS].upload_bytes
    if buckets is not None:
        client = request[CLIENT]
        limit = request.app[SETTINGS].max_upload_bytes_per_hour_per_client
        charge(buckets, client, size, f"{client} has sent its {limit} bytes of uploads for this hour")
