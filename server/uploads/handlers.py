"""HTTP handlers of the seed's upload API: they validate and translate, the service decides.

- ``POST /api/upload/handshake``: JSON ``{fileId, ext, chunkIds[, name, size]}``
- ``POST /api/upload``: multipart form with ``file``, ``chunkId``, ``fileId`` in any order (``chunk_form``
  reads it into the ids and a body the service pulls the chunk's bytes from).

Both answer the chunks still needed as the seed's list of ids, or, with ``?answer=ranges``, as the compact
``{needed, ranges}`` (``wire.needed_ranges``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web

from server import envelope
from server.access.middleware import check_chunk, check_handshake, check_possession
from server.errors import ApiError, E
from server.keys import SETTINGS, UPLOADS
from server.metrics import count_upload
from server.middleware import CLIENT, charge_upload_bytes
from server.storage.contract import StoredFile
from server.uploads.chunk_form import ChunkForm
from server.uploads.form import boundary_of
from server.uploads.protocol import parse_handshake
from wire.needed_ranges import ANSWER_QUERY, ANSWER_RANGES
from wire.possession import PROOF_FIELD

MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around the chunk's bytes

routes = web.RouteTableDef()


def file_url(request: web.Request, file_id: str, ext: str, name: str | None = None) -> str:
    """The absolute URL of a published file, as the seed's handshake answers it; with the uploader's own
    ``name`` in its query, so that this uploader's link downloads under the name it gave (and nobody else's
    handshake can change that)."""
    base = request.app[SETTINGS].public_url.rstrip("/") or str(request.url.origin())
    url = f"{base}/upload/{quote(file_id + ext)}"
    return url if name is None else f"{url}?name={quote(name, safe='')}"


async def _read_json(request: web.Request) -> Any:
    timeout = request.app[SETTINGS].body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):  # small (the chunk ids): all of it within the body timeout
            raw = await request.read()  # bounded by the app's client_max_size (413 beyond it)
    except (ConnectionError, asyncio.IncompleteReadError):
        raise ApiError(E.INCOMPLETE_BODY) from None  # the client went away mid-body: nobody reads the answer
    except TimeoutError:
        raise ApiError(E.BODY_TIMEOUT, f"the handshake's body did not arrive within {timeout:g} s") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(E.BAD_JSON, f"the body is not valid JSON: {exc}") from None


@routes.post("/api/upload/handshake")
async def handshake(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = await _read_json(request)
    hs = parse_handshake(
        body, max_chunks=settings.max_chunks_per_file, max_file_bytes=settings.max_file_bytes
    )
    check_handshake(request, hs)  # --auth-secret: the token allows this file and size (else nothing)
    compact = _compact(request)
    result = await request.app[UPLOADS].handshake(hs, client=request[CLIENT])
    if isinstance(result, StoredFile):
        # --auth-secret: knowing the MD5 is not enough, the client proves it has the bytes (else nothing).
        await check_possession(request, hs, result, body.get(PROOF_FIELD))
        return envelope.ok(file_url(request, hs.file_id, hs.ext, hs.name))
    return envelope.ok(result.render(compact))


def _compact(request: web.Request) -> bool:
    """Whether the client asked for the compact answer (``?answer=ranges``); any other value is refused, so
    that a typo does not silently get the seed's quadratic answers."""
    value = request.query.get(ANSWER_QUERY)
    if value is None:
        return False
    if value != ANSWER_RANGES:
        raise ApiError(
            E.BAD_FIELD, f"{ANSWER_QUERY}={value[:40]!r} is not known: leave it out, or ask {ANSWER_RANGES!r}"
        )
    return True


async def _pieces(request: web.Request, timeout: float) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive; 408 BODY_TIMEOUT when none arrived for ``timeout`` seconds (a slow
    link keeps going as long as bytes keep coming)."""
    reads = request.content.iter_any().__aiter__()
    while True:
        try:
            async with asyncio.timeout(timeout):
                piece = await anext(reads)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(E.BODY_TIMEOUT, f"no byte of the chunk's body arrived for {timeout:g} s") from None
        yield piece


@routes.post("/api/upload")
async def upload_chunk(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    uploads = request.app[UPLOADS]
    limit = settings.max_chunk_bytes + MULTIPART_OVERHEAD
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            E.CHUNK_TOO_LARGE,
            f"the request is {request.content_length} bytes; chunks of at most {settings.max_chunk_bytes} "
            "bytes are accepted",
        )
    charge_upload_bytes(request, request.content_length or settings.max_chunk_bytes)
    compact = _compact(request)
    form = ChunkForm(
        _pieces(request, settings.body_timeout_seconds),
        boundary_of(request.headers.get(hdrs.CONTENT_TYPE, "")),
        max_chunk_bytes=settings.max_chunk_bytes,
        hashing=uploads.hashes_chunks,
        spill_dir=settings.data_dir,
    )
    try:
        file_id, chunk, body = await form.open()
        check_chunk(request, file_id)
        needed = await uploads.receive_chunk(file_id, chunk, body)
        await form.finish()  # what the service did not read (a late copy of a chunk of a published file)
    finally:
        form.close()
    count_upload(request, body.size)
    return envelope.ok(needed.render(compact))
