"""CORS for tus clients in pages of other origins (tus-js-client, Uppy), without a browser: the preflights a
browser sends before each tus request, and the headers a page may read from the answers.

What the browser needs (Fetch standard): a preflight answer allowing the method and every request header the
client sets (``Tus-Resumable``, ``Upload-*``, ``Content-Type``, ``X-HTTP-Method-Override``); then, on the
real answer, ``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers`` naming each non-safelisted
header the client reads (tus-js-client reads ``Location``, ``Upload-Offset``, ``Upload-Length``).
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest

from tests.support.server_process import ServerProcess
from tests.support.tus_clients import metadata_header

PAGE = "http://localhost:5173"  # a page on another origin (e.g. an app's dev server)
TUS = {"Tus-Resumable": "1.0.0"}
APPEND = {**TUS, "Content-Type": "application/offset+octet-stream"}


def names(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


async def create(http: aiohttp.ClientSession, server: ServerProcess, length: int) -> str:
    headers = {**TUS, "Upload-Length": str(length), "Origin": PAGE}
    async with http.post(f"{server.url}/files/", headers=headers) as answer:
        assert answer.status == 201
        return answer.headers["Location"]


# The requests tus-js-client / Uppy make, as (method, path, the headers they set) for the preflight.
PREFLIGHTS = [
    ("POST", "/files/", "tus-resumable,upload-length,upload-metadata"),
    ("POST", "/files/", "content-type,tus-resumable,upload-defer-length,upload-metadata"),
    ("POST", "/files/", "content-type,tus-resumable,upload-length,upload-metadata,upload-checksum"),
    ("HEAD", "/files/{key}", "tus-resumable"),
    ("PATCH", "/files/{key}", "content-type,tus-resumable,upload-offset"),
    ("PATCH", "/files/{key}", "content-type,tus-resumable,upload-length,upload-offset,upload-checksum"),
    ("POST", "/files/{key}", "content-type,tus-resumable,upload-offset,x-http-method-override"),
    ("DELETE", "/files/{key}", "tus-resumable"),
]


@pytest.mark.parametrize(("method", "path", "requested"), PREFLIGHTS)
async def test_preflight_allows_the_tus_requests(
    shared_server: ServerProcess, http: aiohttp.ClientSession, method: str, path: str, requested: str
) -> None:
    server = shared_server
    url = await create(http, server, 10)
    key = url.rsplit("/", 1)[1]
    preflight = {
        "Origin": PAGE,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": requested,
    }
    async with http.options(server.url + path.format(key=key), headers=preflight) as answer:
        assert answer.status in (200, 204)
        assert answer.headers["Access-Control-Allow-Origin"] in ("*", PAGE)
        allowed = names(answer.headers.get("Access-Control-Allow-Methods"))
        # HEAD and POST are CORS-safelisted methods: they need not be listed (PATCH and DELETE must be).
        assert method.lower() in allowed | {"head", "post"}
        assert names(requested) <= names(answer.headers.get("Access-Control-Allow-Headers"))
        assert "Access-Control-Allow-Credentials" not in answer.headers  # no cookies: "*" stays valid


async def test_a_page_can_read_what_tus_clients_read(
    shared_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """Every answer of an upload's life, as a page on another origin gets it: the headers the clients read
    are exposed (else ``fetch``/XHR hide them and tus-js-client sees no Location or offset)."""
    server = shared_server
    body = b"0123456789"
    metadata = metadata_header({"filename": "cors.txt"})
    headers = {**TUS, "Origin": PAGE, "Upload-Length": "10", "Upload-Metadata": metadata}

    async def readable(answer: aiohttp.ClientResponse, *fields: str) -> None:
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        exposed = names(answer.headers.get("Access-Control-Expose-Headers"))
        for field in fields:
            assert field in answer.headers, f"{answer.method} {answer.status} has no {field}"
            assert field.lower() in exposed, f"{field} is not exposed on {answer.method} {answer.status}"

    async with http.post(f"{server.url}/files/", headers=headers) as answer:
        assert answer.status == 201
        await readable(answer, "Location", "Tus-Resumable", "Upload-Expires")
        url = answer.headers["Location"]
    async with http.head(url, headers={**TUS, "Origin": PAGE}) as answer:
        assert answer.status == 200
        await readable(answer, "Upload-Offset", "Upload-Length", "Upload-Metadata", "Tus-Resumable")
    async with http.patch(
        url, data=body[:4], headers={**APPEND, "Origin": PAGE, "Upload-Offset": "0"}
    ) as answer:
        assert answer.status == 204
        await readable(answer, "Upload-Offset", "Upload-Expires", "Tus-Resumable")
        assert answer.headers["Upload-Offset"] == "4"
    # An error answer is readable too (a client shows why, and reads Tus-Resumable/Tus-Version).
    async with http.patch(
        url, data=body[4:], headers={**APPEND, "Origin": PAGE, "Upload-Offset": "3"}
    ) as answer:
        assert answer.status == 409
        await readable(answer, "Tus-Resumable")
    async with http.patch(
        url, data=body[4:], headers={**APPEND, "Origin": PAGE, "Upload-Offset": "4"}
    ) as answer:
        assert answer.status == 204 and answer.headers["Upload-Offset"] == "10"
    async with http.post(f"{server.url}/files/", headers={"Origin": PAGE, "Upload-Length": "1"}) as answer:
        assert answer.status == 412
        await readable(answer, "Tus-Version")
    # OPTIONS without a preflight's headers is tus's own discovery request.
    async with http.options(f"{server.url}/files/", headers={"Origin": PAGE}) as answer:
        assert answer.status in (200, 204)
        await readable(answer, "Tus-Version", "Tus-Extension", "Tus-Max-Size", "Tus-Checksum-Algorithm")
    async with http.delete(url, headers={**TUS, "Origin": PAGE}) as answer:
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == "*"


async def test_an_origin_outside_the_allow_list_is_refused(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    """With ``--cors-origins``, only the listed pages may preflight and use ``/files/``: another page's
    preflight is refused (so the browser never sends its PATCH), and so is a request it sends anyway."""
    server = make_server("--cors-origins", PAGE)
    preflight = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "tus-resumable"}
    async with http.options(f"{server.url}/files/x", headers={**preflight, "Origin": PAGE}) as answer:
        assert answer.status == 204 and answer.headers["Access-Control-Allow-Origin"] == PAGE
        assert "origin" in names(answer.headers.get("Vary"))
    other = "https://elsewhere.example"
    async with http.options(f"{server.url}/files/x", headers={**preflight, "Origin": other}) as answer:
        assert answer.status == 403
        assert "Access-Control-Allow-Methods" not in answer.headers
    async with http.post(
        f"{server.url}/files/", headers={**TUS, "Upload-Length": "1", "Origin": other}
    ) as answer:
        assert answer.status == 403 and "Location" not in answer.headers
    async with http.post(
        f"{server.url}/files/", headers={**TUS, "Upload-Length": "1", "Origin": PAGE}
    ) as answer:
        assert answer.status == 201 and answer.headers["Access-Control-Allow-Origin"] == PAGE
