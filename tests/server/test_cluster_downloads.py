"""Downloads of uploaded files from the cluster backend (S3): every RFC 9110 behaviour the local disk has.

The file's bytes come from ranged GETs of its S3 object, streamed; the answers must be the ones a file on
disk gets (tests/server/test_downloads.py): ranges, multiple ranges, conditionals, Content-Disposition,
Repr-Digest. One server on the cluster backend, one uploaded file, for the whole module.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import aiohttp
import pytest
from multidict import CIMultiDict

from tests.support.http_ranges import offered_name, parse_byteranges
from tests.support.seed_protocol import SeedClient, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import async_wait_until

pytestmark = pytest.mark.cluster

DATA = os.urandom(3 * 1024 * 1024 + 12_345)  # several S3 read pieces, an odd size
SIZE = len(DATA)


@pytest.fixture
def backend() -> str:
    return "cluster"


@pytest.fixture
def server(make_server: object) -> Iterator[ServerProcess]:
    server = make_server()  # type: ignore[operator]
    yield server
    assert server.errors_logged() == []


async def uploaded(server: ServerProcess, http: aiohttp.ClientSession, name: str = "report 2026.bin") -> str:
    """The file's URL, as the handshake answers it once the file is stored (with its name)."""
    client, p = SeedClient(http, server.url), plan(DATA)
    await client.upload(p, ".bin")
    answer = await client.handshake(p, ".bin", name=name)
    assert isinstance(answer.data, str)
    return answer.data


async def get(
    http: aiohttp.ClientSession, url: str, method: str = "GET", **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    async with http.request(method, url, headers=headers) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


async def test_whole_file_head_and_name(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = await uploaded(server, http)
    status, headers, body = await get(http, url)
    assert status == 200 and body == DATA
    assert headers["Accept-Ranges"] == "bytes" and headers["Content-Length"] == str(SIZE)
    assert offered_name(headers["Content-Disposition"]) == "report 2026.bin"
    assert headers["ETag"] and headers["Last-Modified"]
    head_status, head_headers, head_body = await get(http, url, "HEAD")
    assert (head_status, head_body) == (200, b"")
    varying = {"Date", "Repr-Digest"}  # the digest is computed in the background after the first GET
    assert {k: v for k, v in head_headers.items() if k not in varying} == {
        k: v for k, v in headers.items() if k not in varying
    }


async def test_ranges(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = await uploaded(server, http)
    for value, start, stop in (
        ("bytes=0-0", 0, 1),
        ("bytes=1048570-2097160", 1048570, 2097161),  # across S3 read pieces
        ("bytes=-100", SIZE - 100, SIZE),
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE),
    ):
        status, headers, body = await get(http, url, Range=value)
        assert status == 206 and body == DATA[start:stop], value
        assert headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"
    status, headers, _ = await get(http, url, Range=f"bytes={SIZE}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{SIZE}"


async def test_multiple_ranges(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = await uploaded(server, http)
    status, headers, body = await get(http, url, Range="bytes=0-9,2000000-2000099,-5")
    assert status == 206 and headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    parts = parse_byteranges(body, headers["Content-Type"])
    expected = [(0, 10), (2000000, 2000100), (SIZE - 5, SIZE)]
    assert [(p.range[0], p.range[1] + 1) for p in parts] == expected
    assert [p.data for p in parts] == [DATA[a:b] for a, b in expected]


async def test_conditionals(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = await uploaded(server, http)
    _, headers, _ = await get(http, url, "HEAD")
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert (await get(http, url, **{"If-None-Match": etag}))[0] == 304
    assert (await get(http, url, **{"If-Modified-Since": modified}))[0] == 304
    assert (await get(http, url, **{"If-Match": '"other"'}))[0] == 412
    status, _, body = await get(http, url, Range="bytes=0-9", **{"If-Range": etag})
    assert (status, body) == (206, DATA[:10])
    status, _, body = await get(http, url, Range="bytes=0-9", **{"If-Range": '"other"'})
    assert (status, body) == (200, DATA)  # the file changed (by another ETag): all of it


async def test_repr_digest(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = await uploaded(server, http)
    expected = "sha-256=:" + base64.b64encode(hashlib.sha256(DATA).digest()).decode() + ":"

    async def sent() -> bool:  # computed in the background once the file is first asked for
        _, headers, _ = await get(http, url, "HEAD")
        return headers.get("Repr-Digest") == expected

    await async_wait_until(sent, what="the Repr-Digest of the file in S3")
