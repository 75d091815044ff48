"""What both protocols at ``/files/`` read from a request: an append's body as it arrives, and the URL of an
upload resource."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from server.keys import SETTINGS
from server.storage.contract import Buffer

COLLECTION = "/files/"


class RequestBody:
    """An append's body as it arrives. A client that goes away, or stops sending for
    ``--body-timeout-seconds``, ends it early (``cut``): what arrived is kept."""

    def __init__(self, request: web.Request, timeout: float) -> None:
        self._request = request
        self._timeout = timeout
        self.cut = False
        self.timed_out = False

    async def __aiter__(self) -> AsyncIterator[Buffer]:
        reads = self._request.content.iter_any().__aiter__()
        while True:
            try:
                async with asyncio.timeout(self._timeout):
                    piece = await anext(reads)
            except StopAsyncIteration:
                return
            except TimeoutError:
                self.cut = self.timed_out = True
                return
            except (ConnectionError, asyncio.IncompleteReadError, HttpProcessingError):
                self.cut = True
                rest = _still_buffered(self._request.content)
                if rest:
                    yield rest
                return
            yield piece


def _still_buffered(stream: object) -> bytes:
    """What arrived before the connection was lost but was not read yet. aiohttp's ``StreamReader.readany``
    raises the loss before it returns its buffer (aiohttp 3.14), so a request whose reading starts late (the
    cluster backend asks PostgreSQL first) would lose bytes the server did receive: they are taken from the
    buffer directly. Nothing when the reader is not aiohttp's (or changed)."""
    read = getattr(stream, "_read_nowait", None)
    if read is None or not getattr(stream, "_buffer", None):
        return b""
    data = read(-1)
    return data if isinstance(data, bytes) else b""


def upload_url(request: web.Request, key: str) -> str:
    base = request.app[SETTINGS].public_url.rstrip("/") or str(request.url.origin())
    return f"{base}{COLLECTION}{key}"


def has_body(request: web.Request) -> bool:
    return (
        bool(request.content_length) or request.headers.get(hdrs.TRANSFER_ENCODING, "").lower() == "chunked"
    )
