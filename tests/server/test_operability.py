"""``/metrics`` (Prometheus text), ``/healthz`` and JSON logs, from the real server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.seed_protocol import CHUNK, SeedClient, plan
from tests.support.server_process import ServerProcess


async def scrape(http: aiohttp.ClientSession, server: ServerProcess) -> dict[tuple[str, tuple], float]:
    async with http.get(server.url + "/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_what_happened(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(3 * CHUNK + 10))
    client = SeedClient(http, server.url)
    pending = plan(os.urandom(100))
    await client.handshake(pending)  # stays in progress
    url = await client.upload(p)
    assert (await client.get_bytes(url))[0] == 200
    await client.post_json("/api/upload/handshake", {"fileId": "nope", "ext": "", "chunkIds": []})  # 400
    values = await scrape(http, server)
    assert values[("rt_upload_bytes_total", ())] == 3 * CHUNK + 10
    assert values[("rt_download_bytes_total", ())] == 3 * CHUNK + 10
    assert values[("rt_errors_total", (("error", "BAD_FILE_ID"),))] == 1
    assert values[("rt_requests_seconds_count", (("route", "/api/upload"),))] == 4  # the chunk latencies
    assert values[("rt_uploads_in_progress", ())] == 1
    assert values[("rt_open_connections", ())] >= 1


async def test_healthz(make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession) -> None:
    healthy = make_server()
    async with http.get(healthy.url + "/healthz") as resp:
        body = await resp.json()
    assert resp.status == 200 and body["data"]["status"] == "ok" and body["data"]["freeBytes"] > 0
    full = make_server("--min-free-bytes", str(10**15))  # more than any disk here has
    async with http.get(full.url + "/healthz") as resp:
        body = await resp.json()
    assert (resp.status, body["error"]) == (503, "UNHEALTHY") and "--min-free-bytes" in body["msg"]


async def test_json_logs(make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession) -> None:
    server = make_server("--log-format", "json")
    p = plan(os.urandom(1000))
    await SeedClient(http, server.url).upload(p)
    assert server.assembled(p.file_id) == 1
    lines = [json.loads(line) for line in server.log if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(line["message"].startswith(f"assembled {p.file_id}") for line in lines)
