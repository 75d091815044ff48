"""HTTP handlers of the seed's upload API: they validate and translate, the service decides.

- ``POST /api/upload/handshake``: JSON ``{fileId, ext, chunkIds[, name, size]}``
- ``POST /api/upload``: multipart form with ``file``, ``chunkId``, ``fileId`` in any order (the seed's client
  sends the file part first, so its bytes are spooled before the ids are known).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from server import envelope
from server.errors import ApiError, E
from server.keys import SETTINGS, STORAGE, UPLOADS
from server.storage.base import StoredFile
from server.uploads.protocol import ChunkId, parse_chunk_id, parse_file_id, parse_handshake
from server.uploads.service import ReceivedChunk

READ_SIZE = 256 * 1024
MAX_FIELD_BYTES = 1024  # fileId and chunkId are under 50 characters
MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around the chunk's bytes

routes = web.RouteTableDef()


def file_url(request: web.Request, file_id: str, ext: str) -> str:
    """The absolute URL of a published file, as the seed's handshake answers it."""
    base = request.app[SETTINGS].public_url.rstrip("/") or str(request.url.origin())
    return f"{base}/upload/{quote(file_id + ext)}"


async def _read_json(request: web.Request) -> Any:
    raw = await request.read()  # bounded by the app's client_max_size (413 beyond it)
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
    result = await request.app[UPLOADS].handshake(hs)
    if isinstance(result, StoredFile):
        return envelope.ok(file_url(request, hs.file_id, hs.ext))
    return envelope.ok(result)


async def _read_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise ApiError(E.BAD_FIELD, f"form field {part.name!r} is longer than {MAX_FIELD_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(E.BAD_FIELD, f"form field {part.name!r} is not UTF-8 text") from None


async def _spool_part(request: web.Request, part: BodyPartReader) -> ReceivedChunk:
    """Stream the chunk's bytes to a spool while hashing them; nothing is trusted yet."""
    limit = request.app[SETTINGS].max_chunk_bytes
    spool = await request.app[STORAGE].new_spool()
    digest = hashlib.md5()
    size = 0
    try:
        while chunk := await part.read_chunk(READ_SIZE):
            size += len(chunk)
            if size > limit:
                raise ApiError(E.CHUNK_TOO_LARGE, f"the chunk is over {limit} bytes, the most this server accepts")
            digest.update(chunk)
            await spool.write(chunk)
    except BaseException:
        await spool.discard()
        raise
    return ReceivedChunk(spool, digest.hexdigest(), size)


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
    if not request.content_type.startswith("multipart/"):
        raise ApiError(E.BAD_FORM, f"expected a multipart/form-data body, got {request.content_type!r}")
    fields: dict[str, str] = {}
    received: ReceivedChunk | None = None
    try:
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise ApiError(E.BAD_FORM, "nested multipart parts are not accepted")
                if part.name == "file":
                    if received is not None:
                        raise ApiError(E.BAD_FORM, "the form has more than one 'file' part")
                    if "fileId" in fields and "chunkId" in fields:
                        _parse_ids(fields)  # ids first: bad ones are refused before the bytes are read
                    received = await _spool_part(request, part)
                elif part.name in ("fileId", "chunkId"):
                    fields[part.name] = await _read_field(part)
                else:
                    await part.release()  # unknown fields are ignored
        except (ValueError, AssertionError, LookupError) as exc:
            raise ApiError(E.BAD_FORM, f"the multipart form could not be read: {exc}") from None
        except (ConnectionError, asyncio.IncompleteReadError):
            raise ApiError(E.INCOMPLETE_BODY) from None  # the client went away mid-body
        file_id, chunk = _parse_ids(fields)
        if received is None:
            raise ApiError(E.BAD_FIELD, "the form has no 'file' part with the chunk's bytes")
        data, received = received, None
        needed = await request.app[UPLOADS].receive_chunk(file_id, chunk, data)
    finally:
        if received is not None:
            await received.spool.discard()
    return envelope.ok(needed)


def _parse_ids(fields: dict[str, str]) -> tuple[str, ChunkId]:
    return parse_file_id(fields.get("fileId")), parse_chunk_id(fields.get("chunkId"))
