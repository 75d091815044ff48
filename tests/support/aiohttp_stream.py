"""The download engine's ``StreamTransport`` over aiohttp, for running the engine under CPython against the
real server (the browser's is ``frontend/browser/fetch_stream.py``).

It counts what it sees (requests, body bytes read, requests in flight) and can hold bodies: ``hold_after``
bytes read in all, the next pieces wait until ``release`` is set, so a test can act at a known point of a
download (replace the file, restart the server, cancel). ``gather`` holds every body until that many
requests have been in flight at once, so a test of parallel lanes does not depend on how fast the first
segment arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp

from frontend.engine.errors import TransportError
from frontend.engine.ports import HttpRequest


class AiohttpResponse:
    def __init__(self, transport: AiohttpStreamTransport, resp: aiohttp.ClientResponse) -> None:
        self._transport = transport
        self._resp = resp
        self._headers = {k.lower(): v for k, v in resp.headers.items()}
        self._closed = False

    @property
    def status(self) -> int:
        return self._resp.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    async def pieces(self) -> AsyncIterator[bytes]:
        transport = self._transport
        if transport.gather is not None:
            await transport.gathered.wait()
        try:
            async for piece in self._resp.content.iter_chunked(transport.piece_size):
                if transport.hold_after is not None and transport.bytes_read >= transport.hold_after:
                    transport.held.set()
                    await transport.release.wait()
                transport.bytes_read += len(piece)
                yield piece
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        # aiohttp ends the iteration quietly when the connection closes early: the engine counts the bytes.

    async def text(self) -> str:
        try:
            return await self._resp.text(errors="replace")
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.in_flight -= 1
            self._resp.close()  # drops the connection if the body was not read to its end


class AiohttpStreamTransport:
    def __init__(self, session: aiohttp.ClientSession, piece_size: int = 256 * 1024) -> None:
        self.session = session
        self.piece_size = piece_size
        self.requests: list[HttpRequest] = []
        self.bytes_read = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold_after: int | None = None
        self.held = asyncio.Event()  # set once a body is held
        self.release = asyncio.Event()
        self.gather: int | None = None
        self.gathered = asyncio.Event()  # set once ``gather`` requests have been in flight at once

    async def open(self, req: HttpRequest) -> AiohttpResponse:
        self.requests.append(req)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=req.timeout, sock_read=req.timeout)
        try:
            resp = await self.session.request(
                req.method, req.url, headers=dict(req.headers), timeout=timeout, auto_decompress=False
            )
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.gather is not None and self.in_flight >= self.gather:
            self.gathered.set()
        return AiohttpResponse(self, resp)
