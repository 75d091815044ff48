"""``Repr-Digest`` computed once a file is published (RFC 9530; issue 15), against the real server: after a seed,
tus or draft upload completes, the server hashes the file in the background by itself, so with no request for
the file at all the digest is computed (its log line), and the very first ``HEAD`` carries it. On the local
backend and, marked ``cluster``, on PostgreSQL + S3 (the file then read back from S3)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import aiohttp

from server.rfc.digests import SHA_256
from tests.support.digests import async_repr_digest
from tests.support.http_ranges import noise
from tests.support.seed_protocol import SeedClient, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

ON_EVERY_BACKEND = True  # the local default, and PostgreSQL + S3 (tests/conftest.py)

MakeServer = Callable[..., ServerProcess]


def computed(server: ServerProcess, file_id: str) -> int:
    """How many times the server logged that it computed (and stored) the Repr-Digest of this upload."""
    return sum(f"computed and stored the Repr-Digest of upload/{file_id} " in line for line in server.log)


async def first_head_carries_it(
    http: aiohttp.ClientSession, server: ServerProcess, url: str, data: bytes
) -> None:
    """Nothing asked for the file: the digest is computed all the same, and the first HEAD carries it."""
    file_id = hashlib.md5(data).hexdigest()
    wait_until(lambda: computed(server, file_id) >= 1, timeout=30, what=f"the Repr-Digest of {file_id}")
    assert await async_repr_digest(http, url) == {SHA_256: hashlib.sha256(data).digest()}
    assert computed(server, file_id) == 1  # once: the HEAD found it, and asked for nothing
    assert server.errors_logged() == []


async def test_a_seed_upload(make_server: MakeServer, http: aiohttp.ClientSession) -> None:
    server = make_server()
    data = noise(2 * 1024 * 1024 + 5, 61)
    url = await SeedClient(http, server.url).upload(plan(data), ".bin", name="seed.bin")
    await first_head_carries_it(http, server, url, data)


async def test_a_tus_upload(make_server: MakeServer, http: aiohttp.ClientSession) -> None:
    server = make_server()
    data = noise(1_500_000, 62)
    tus = {"Tus-Resumable": "1.0.0"}
    async with http.post(f"{server.url}/files/", headers={**tus, "Upload-Length": str(len(data))}) as resp:
        assert resp.status == 201, await resp.text()
        location = resp.headers["Location"]
    for offset in (0, 700_000):  # two appends: the second one completes (and publishes) it
        piece = data[offset : offset + 700_000] if offset == 0 else data[offset:]
        headers = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)}
        async with http.patch(location, data=piece, headers=headers) as resp:
            assert resp.status == 204, await resp.text()
    await first_head_carries_it(http, server, f"{server.url}/upload/{hashlib.md5(data).hexdigest()}", data)


async def test_a_draft_upload(make_server: MakeServer, http: aiohttp.ClientSession) -> None:
    server = make_server()
    data = noise(900_000, 63)
    async with http.post(f"{server.url}/files/", data=data, headers={"Upload-Complete": "?1"}) as resp:
        assert resp.status in (200, 201), await resp.text()
    await first_head_carries_it(http, server, f"{server.url}/upload/{hashlib.md5(data).hexdigest()}", data)


async def test_many_files_published_at_once_are_each_hashed_once(
    make_server: MakeServer, http: aiohttp.ClientSession
) -> None:
    server = make_server()
    files = [noise(300_000 + i, 70 + i) for i in range(12)]
    client = SeedClient(http, server.url)
    urls = await asyncio.gather(*(client.upload(plan(data), ".bin") for data in files))
    for url, data in zip(urls, files, strict=True):
        await first_head_carries_it(http, server, url, data)
