"""Host names the server does not answer for get ``421 MISDIRECTED_HOST``; its answers never carry them."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from tests.support.server_process import ServerProcess

HANDSHAKE = {"fileId": "d41d8cd98f00b204e9800998ecf8427e", "ext": ".txt", "chunkIds": []}  # the empty file


async def post(
    http: aiohttp.ClientSession, server: ServerProcess, host: str
) -> tuple[int, dict[str, object]]:
    async with http.post(
        server.url + "/api/upload/handshake", json=HANDSHAKE, headers={"Host": host}
    ) as resp:
        return resp.status, await resp.json()


async def test_an_unknown_host_name_is_refused_and_known_ones_are_answered(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, server, "evil.example")
    assert (status, body["error"]) == (421, "MISDIRECTED_HOST")
    assert "evil.example" in str(body["msg"]) and "--allowed-hosts" in str(body["msg"])
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        status, body = await post(http, server, host)
        assert status == 200 and body["data"] == f"http://{host}/upload/{HANDSHAKE['fileId']}.txt"
    async with http.get(server.url + "/", headers={"Host": "evil.example"}) as resp:
        assert resp.status == 421  # the page too
    assert server.errors_logged() == []


async def test_allowed_hosts_and_public_url(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    listed = make_server("--allowed-hosts", "files.example.com")
    assert (await post(http, listed, "files.example.com"))[0] == 200
    assert (await post(http, listed, f"127.0.0.1:{listed.port}"))[0] == 421  # the list replaces the default
    public = make_server("--public-url", "https://files.example.com")
    status, body = await post(http, public, "proxy.internal:8080")  # behind a proxy: any Host
    assert status == 200 and body["data"] == f"https://files.example.com/upload/{HANDSHAKE['fileId']}.txt"
