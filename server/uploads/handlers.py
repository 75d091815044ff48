"""HTTP handlers of the seed's upload API: they validate and translate, the service decides.

- ``POST /api/upload/handshake``: JSON ``{fileId, ext, chunkIds[, name, size]}``
- ``POST /api/upload``: multipart form with ``file``, ``chunkId``, ``fileId`` in any order (RFC 7578 fixes
  none). The seed's client sends the file part first, so its bytes are spooled before the ids are known.
  When the ids come first, bad ones are refused before any byte is stored, and a chunk that is the next one
  its file needs is written straight into the assembled file (``UploadService.open_appender``), written
  once. Each network read of the chunk's bytes is handed to a worker thread that hashes it into the chunk's
  MD5 (``OffLoopMD5``; with ``--verify-chunks arrival``, the default) and, the same read, written to the
  spool; a chunk written in place is hashed there into the file's running MD5, on the loop, while the other
  core computes the chunk's (measured: both digests in worker threads gained nothing for one chunk at a
  time and cost more CPU, see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web

from server import envelope
from server.client_limits import charge
from server.errors import ApiError, E
from server.keys import SETTINGS, STORAGE, UPLOADS
from server.metrics import count_upload
from server.middleware import CLIENT, CLIENT_LIMITS
from server.offloop_md5 import OffLoopMD5
from server.settings import VerifyChunks
from server.storage.base import ChunkAppender, ChunkSpool, StoredFile
from server.uploads.form import Event, FormParser, PartData, PartStart, boundary_of
from server.uploads.protocol import ChunkId, parse_chunk_id, parse_file_id, parse_handshake
from server.uploads.service import ReceivedChunk

MAX_FIELD_BYTES = 1024  # fileId and chunkId are under 50 characters
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
    hs = parse_handshake(
        await _read_json(request),
        max_chunks=settings.max_chunks_per_file,
        max_file_bytes=settings.max_file_bytes,
    )
    result = await request.app[UPLOADS].handshake(hs, client=request[CLIENT])
    if isinstance(result, StoredFile):
        return envelope.ok(file_url(request, hs.file_id, hs.ext, hs.name))
    return envelope.ok(result)


class _ChunkFormReader:
    """Consumes the chunk form's events: small text fields kept, the ``file`` part spooled."""

    def __init__(self, request: web.Request) -> None:
        self.storage = request.app[STORAGE]
        self.uploads = request.app[UPLOADS]
        self.limit = request.app[SETTINGS].max_chunk_bytes
        self.verify = request.app[SETTINGS].verify_chunks is VerifyChunks.ARRIVAL
        self.fields: dict[str, bytearray] = {}
        self.spool: ChunkSpool | None = None
        self.appender: ChunkAppender | None = None  # the spool, when it writes straight in place
        self.hasher: OffLoopMD5 | None = None  # the chunk's MD5, when chunks are checked as they arrive
        self.size = 0
        self._current: str | None = None

    async def handle(self, event: Event) -> None:
        if isinstance(event, PartStart):
            await self._start(event)
        elif isinstance(event, PartData):
            await self._data(event.data)
        else:
            self._current = None

    async def _start(self, event: PartStart) -> None:
        self._current = event.name if event.name in ("file", "fileId", "chunkId") else None  # others ignored
        if event.name == "file":
            if self.spool is not None:
                raise ApiError(E.BAD_FORM, "the form has more than one 'file' part")
            if "fileId" in self.fields and "chunkId" in self.fields:
                file_id, chunk = self.ids()  # ids first: bad ones are refused before the bytes are read
                self.spool = self.appender = await self.uploads.open_appender(file_id, chunk)
            if self.spool is None:
                self.spool = await self.storage.new_spool()
            if self.verify:
                self.hasher = OffLoopMD5(hashlib.md5())
        elif self._current is not None:
            if self._current in self.fields:
                raise ApiError(E.BAD_FORM, f"the form has more than one {event.name!r} field")
            self.fields[self._current] = bytearray()

    async def _data(self, data: memoryview) -> None:
        if self._current == "file":
            assert self.spool is not None
            self.size += len(data)
            if self.size > self.limit:
                raise ApiError(
                    E.CHUNK_TOO_LARGE, f"the chunk is over {self.limit} bytes, the most this server accepts"
                )
            if self.hasher is not None:
                self.hasher.feed(data)  # hashed in a worker thread, beside the loop's work
            self.spool.write(data)
        elif self._current is not None:
            value = self.fields[self._current]
            value += data
            if len(value) > MAX_FIELD_BYTES:
                raise ApiError(
                    E.BAD_FIELD, f"form field {self._current!r} is longer than {MAX_FIELD_BYTES} bytes"
                )

    def ids(self) -> tuple[str, ChunkId]:
        text = {}
        for name, raw in self.fields.items():
            try:
                text[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(E.BAD_FIELD, f"form field {name!r} is not UTF-8 text") from None
        return parse_file_id(text.get("fileId")), parse_chunk_id(text.get("chunkId"))

    async def received(self) -> ReceivedChunk:
        if self.spool is None:
            raise ApiError(E.BAD_FIELD, "the form has no 'file' part with the chunk's bytes")
        md5 = None
        if self.hasher is not None:
            await self.hasher.wait()
            md5 = self.hasher.digests[0].hexdigest()
        received = ReceivedChunk(self.spool, self.size, md5)
        self.spool = self.appender = None
        return received


def _charge_bytes(request: web.Request, size: int) -> None:
    """429 RATE_LIMITED when this client has sent its chunk bytes for the hour (before reading the body)."""
    buckets = request.app[CLIENT_LIMITS].upload_bytes
    if buckets is not None:
        client = request[CLIENT]
        limit = request.app[SETTINGS].max_upload_bytes_per_hour_per_client
        charge(buckets, client, size, f"{client} has sent its {limit} bytes of chunks for this hour")


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
    limit = settings.max_chunk_bytes + MULTIPART_OVERHEAD
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            E.CHUNK_TOO_LARGE,
            f"the request is {request.content_length} bytes; chunks of at most {settings.max_chunk_bytes} "
            "bytes are accepted",
        )
    _charge_bytes(request, request.content_length or settings.max_chunk_bytes)
    parser = FormParser(boundary_of(request.headers.get(hdrs.CONTENT_TYPE, "")))
    form = _ChunkFormReader(request)
    try:
        try:
            async for piece in _pieces(request, settings.body_timeout_seconds):
                for event in parser.feed(piece):
                    await form.handle(event)
            parser.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            raise ApiError(E.INCOMPLETE_BODY) from None  # the client went away mid-body
        file_id, chunk = form.ids()
        data = await form.received()
    finally:
        if form.spool is not None:
            await form.spool.discard()
    needed = await request.app[UPLOADS].receive_chunk(file_id, chunk, data)
    count_upload(request, data.size)
    return envelope.ok(needed)
