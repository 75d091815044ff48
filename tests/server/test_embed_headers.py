"""What the server answers for embedding, over HTTP against the real server: who may frame ``/embed``, who may
load ``/embed.js``, and ``/api/embed`` (the envelope, bad options, a refused origin)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.support.server_process import ServerProcess

HOST = "http://127.0.0.1:5500"  # a host page elsewhere
DOCUMENTED = {
    "parallel": "3",
    "accept": "image/*,.pdf",
    "max-size": "104857600",
    "multiple": "1",
    "lang": "zh",
}


async def test_with_any_origin_allowed_any_page_may_frame_the_uploader(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/embed", params={"id": "ru1", **DOCUMENTED}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        assert resp.headers["Content-Security-Policy"] == "frame-ancestors *"
        # A frame in a page that is not isolated cannot be isolated: no COOP/COEP here.
        assert "Cross-Origin-Opener-Policy" not in resp.headers
        assert "Cross-Origin-Embedder-Policy" not in resp.headers
        assert "X-Frame-Options" not in resp.headers
        body = await resp.text()
        script = re.search(r'<script id="uploader"[^>]*>', body)
        assert script is not None and 'src="/py/browser/embed_main.py?v=' in script.group(0)
        assert "worker" not in script.group(0)  # Python on the frame's main thread
        assert '"maxSize": 104857600' in body


async def test_an_allow_list_limits_who_may_frame_it(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--cors-origins", f"{HOST},https://app.example")
    async with http.get(f"{server.url}/embed") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Security-Policy"] == f"frame-ancestors 'self' {HOST} https://app.example"


async def test_the_page_itself_is_framed_only_by_itself(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/") as resp:
        assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'self'"


async def test_embed_js_is_public_code(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--cors-origins", HOST)  # the allow-list does not hide the script: the API decides
    for origin in (HOST, "https://elsewhere.example"):
        async with http.get(f"{server.url}/embed.js", headers={"Origin": origin}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/javascript")
            assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert 'customElements.define("resumable-uploader"' in await resp.text()


async def test_the_frames_assets_are_same_origin(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    for path, kind in (("/embed/frame.js", "text/javascript"), ("/embed/embed.css", "text/css")):
        async with http.get(server.url + path) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith(kind)
            assert resp.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    async with http.get(server.url + "/embed/embed.html") as resp:
        assert resp.status == 404  # the template is not served raw


async def test_api_embed_gives_the_limits_and_the_options(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    server = make_server("--max-file-bytes", "50000000", "--max-chunk-bytes", "2000000")
    async with http.get(f"{server.url}/api/embed", params=DOCUMENTED, headers={"Origin": HOST}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert await resp.json() == {
            "code": 0,
            "msg": "",
            "data": {
                "maxFileBytes": 50000000,
                "maxChunkBytes": 2000000,
                "options": {
                    "id": "",
                    "lang": "zh",
                    "parallel": 3,
                    "accept": "image/*,.pdf",
                    "maxSize": 50000000,  # the server's limit is smaller than the host's
                    "multiple": True,
                },
            },
        }


async def test_bad_options_are_a_400_the_host_can_read(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        f"{server.url}/api/embed", params={"max-size": "100MB"}, headers={"Origin": HOST}
    ) as resp:
        assert resp.status == 400
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        answer = await resp.json()
        assert answer["error"] == "BAD_EMBED_OPTION"
        assert answer["msg"] == "max-size must be a positive whole number of bytes, got '100MB'"
    async with http.get(f"{server.url}/embed", params={"parallel": "99"}) as resp:
        assert resp.status == 400 and "parallel must be a whole number from 1 to 16" in await resp.text()
        assert resp.headers["Content-Security-Policy"] == "frame-ancestors *"


async def test_a_refused_origin_reads_why(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--cors-origins", HOST)
    async with http.get(f"{server.url}/api/embed", headers={"Origin": HOST}) as resp:
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == HOST
    evil = "https://evil.example"
    async with http.get(f"{server.url}/api/embed", headers={"Origin": evil}) as resp:
        assert resp.status == 403
        assert resp.headers["Access-Control-Allow-Origin"] == evil  # readable, and grants nothing
        answer = await resp.json()
        assert answer["error"] == "ORIGIN_NOT_ALLOWED"
        assert answer["msg"] == f"origin {evil} is not allowed to use this server"
