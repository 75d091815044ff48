"""``server.file_response.respond`` with a byte source that is not a local file (a storage backend's
stream), and with a local file sent through asyncio's ``loop.sendfile`` (the fallback of the direct socket
path), served by a real aiohttp server in this process and fetched over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import test_utils, web

from server import file_response
from server.file_response import LocalFile, Representation, StreamedFile, respond
from server.rfc.conditionals import EntityTag
from tests.support.http_ranges import parse_byteranges, pattern

DATA = pattern(300_000, b"streamed")


async def _read(start: int, count: int) -> AsyncIterator[bytes]:
    """Like a remote backend: uneven chunks."""
    end = start + count
    while start < end:
        step = min(7777, end - start)
        yield DATA[start : start + step]
        start += step


async def _truncated(start: int, count: int) -> AsyncIterator[bytes]:
    yield DATA[start : start + min(count, 1000)]


async def _handler(request: web.Request) -> web.StreamResponse:
    reader = _truncated if request.query.get("short") else _read
    rep = Representation(len(DATA), EntityTag('"s"'), 1_700_000_000.0, "application/octet-stream", "s.bin")
    return respond(request, rep, StreamedFile(reader))


async def _check_whole_range_and_multipart(http: aiohttp.ClientSession, url: str) -> None:
    """The whole file, one range and a multipart answer of two ranges, byte-exact."""
    async with http.get(url) as resp:
        assert (resp.status, await resp.read()) == (200, DATA)
    async with http.get(url, headers={"Range": "bytes=1000-99999"}) as resp:
        assert (resp.status, await resp.read()) == (206, DATA[1000:100000])
    async with http.get(url, headers={"Range": "bytes=0-9,200000-"}) as resp:
        parts = parse_byteranges(await resp.read(), resp.headers["Content-Type"])
        assert [p.data for p in parts] == [DATA[:10], DATA[200000:]]


async def test_streamed_source_serves_whole_ranges_and_multipart() -> None:
    app = web.Application()
    app.router.add_get("/f", _handler)
    async with test_utils.TestServer(app) as server, aiohttp.ClientSession() as http:
        await _check_whole_range_and_multipart(http, str(server.make_url("/f")))
        # A stream that ends early cannot meet the Content-Length: the client sees an incomplete body.
        async with http.get(server.make_url("/f?short=1")) as resp:
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()


async def test_local_file_through_asyncio_sendfile_when_the_socket_is_not_used_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path taken when the socket cannot be written directly (``loop.sendfile`` on the transport): whole
    file, one range and multipart, byte-exact."""
    monkeypatch.setattr(file_response, "_plain_socket", lambda transport: None)
    path = tmp_path / "local.bin"
    path.write_bytes(DATA)

    async def handler(request: web.Request) -> web.StreamResponse:
        opened = LocalFile.open(path)
        rep = Representation(len(DATA), EntityTag('"l"'), 1_700_000_000.0, "application/octet-stream", "l")
        return respond(request, rep, opened)

    app = web.Application()
    app.router.add_get("/f", handler)
    async with test_utils.TestServer(app) as server, aiohttp.ClientSession() as http:
        await _check_whole_range_and_multipart(http, str(server.make_url("/f")))
