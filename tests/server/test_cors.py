"""CORS: the seed's page on another origin can use the API; an allow-list restricts which origins may."""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from tests.support.seed_protocol import SeedClient, plan
from tests.support.server_process import ServerProcess

PAGE = "http://localhost:5500"  # e.g. the seed's page opened with a live-server


async def test_permissive_default(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    preflight = {
        "Origin": PAGE,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with http.options(f"{server.url}/api/upload/handshake", headers=preflight) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        assert resp.headers["Access-Control-Allow-Headers"] == "content-type"
    p = plan(os.urandom(10))
    body = {"fileId": p.file_id, "ext": ".txt", "chunkIds": p.chunk_ids}
    async with http.post(f"{server.url}/api/upload/handshake", json=body, headers={"Origin": PAGE}) as resp:
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
    # Errors carry the CORS headers too, so a cross-origin page can read the message.
    async with http.post(f"{server.url}/api/upload/handshake", json={}, headers={"Origin": PAGE}) as resp:
        assert resp.status == 403 and resp.headers["Access-Control-Allow-Origin"] == "*"
        assert (await resp.json())["msg"] == "请携带文件编号"


async def test_allow_list(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--cors-origins", f"{PAGE},https://app.example")
    p = plan(os.urandom(10))
    body = {"fileId": p.file_id, "ext": ".txt", "chunkIds": p.chunk_ids}
    async with http.post(f"{server.url}/api/upload/handshake", json=body, headers={"Origin": PAGE}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == PAGE
        assert "Origin" in resp.headers["Vary"]
    for method in ("POST", "OPTIONS"):
        headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        async with http.request(
            method, f"{server.url}/api/upload/handshake", json=body, headers=headers
        ) as resp:
            answer = await resp.json()
            assert resp.status == 403 and answer["error"] == "ORIGIN_NOT_ALLOWED"
            assert "https://evil.example" in answer["msg"]
            # The refused page may read why (nothing else): an embedded uploader shows the reason.
            assert resp.headers["Access-Control-Allow-Origin"] == "https://evil.example"
    # Same-origin requests (which also send Origin on POST) are always allowed.
    async with http.post(
        f"{server.url}/api/upload/handshake", json=body, headers={"Origin": server.url}
    ) as resp:
        assert resp.status == 200
    # Without Origin (curl, the seed's server-to-server use) nothing changes.
    assert (await SeedClient(http, server.url).handshake(p, ".txt")).status == 200
