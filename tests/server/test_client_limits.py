"""Requests per second per client: over the limit, ``429 RATE_LIMITED`` with ``Retry-After``; other clients
(behind a trusted proxy, told apart by ``X-Forwarded-For``) are not affected."""

from __future__ import annotations

import os
from collections.abc import Callable

import aiohttp

from tests.support.seed_protocol import CHUNK, Planned, SeedClient, plan
from tests.support.server_process import ServerProcess


async def status_of(
    http: aiohttp.ClientSession, server: ServerProcess, forwarded: str | None = None
) -> tuple[int, dict[str, str], dict[str, object]]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    async with http.get(server.url + "/api/files", headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_a_client_over_its_rate_gets_429_and_others_do_not(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    server = make_server("--requests-per-second-per-client", "0.2", "--trusted-proxies", "127.0.0.1")
    assert (await status_of(http, server, "203.0.113.7"))[0] == 200  # the burst: one request
    status, headers, body = await status_of(http, server, "203.0.113.7")
    assert (status, body["error"]) == (429, "RATE_LIMITED")
    assert headers["Retry-After"] == "5" and "203.0.113.7" in str(body["msg"])
    assert (await status_of(http, server, "198.51.100.1"))[0] == 200  # another client behind the proxy
    async with http.get(server.url + "/download/none") as resp:
        assert resp.status == 404  # downloads are not limited
    assert server.errors_logged() == []


async def test_unfinished_uploads_per_client(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    server = make_server("--max-uploads-per-client", "2", "--trusted-proxies", "127.0.0.1")
    mine = {"X-Forwarded-For": "203.0.113.7"}
    a, b, c = (plan(os.urandom(100), chunk_size=60) for _ in range(3))

    async def handshake(p: Planned, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        body = {"fileId": p.file_id, "ext": ".bin", "chunkIds": p.chunk_ids}
        headers = {**headers, "Connection": "close"}  # the server restarts in between
        async with http.post(server.url + "/api/upload/handshake", json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    assert (await handshake(a, mine))[0] == 200 and (await handshake(b, mine))[0] == 200
    status, body = await handshake(c, mine)
    assert (status, body["error"]) == (429, "TOO_MANY_UPLOADS") and "203.0.113.7" in str(body["msg"])
    server.restart()  # the store counts who started what: a restart forgets nothing
    assert (await handshake(c, mine))[0] == 429
    assert (await handshake(c, {"X-Forwarded-For": "198.51.100.1"}))[0] == 200  # someone else
    await SeedClient(http, server.url).upload(a)  # finished: it no longer counts
    assert (await handshake(plan(os.urandom(10)), mine))[0] == 200


async def test_chunk_bytes_per_hour_per_client(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    server = make_server("--max-upload-bytes-per-hour-per-client", str(2 * CHUNK))
    p = plan(os.urandom(3 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    assert (await client.send_chunk(p, p.chunk_ids[0])).status == 200
    refused = await client.send_chunk(p, p.chunk_ids[1])  # the hour's 2 MiB do not hold two more chunks
    assert (refused.status, refused.body["error"]) == (429, "RATE_LIMITED")
    assert "for this hour" in refused.body["msg"]
    assert (await client.handshake(p)).data == p.chunk_ids[1:]  # nothing of it was kept
