"""Requests per second per client: over the limit, ``429 RATE_LIMITED`` with ``Retry-After``; other clients
(behind a trusted proxy, told apart by ``X-Forwarded-For``) are not affected."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

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
