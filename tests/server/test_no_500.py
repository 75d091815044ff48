"""Requests that once got ``500 INTERNAL`` (and a logged traceback): each now gets its proper answer.

Regression tests for the classes of input found by trying the server as an attacker would (issue 17): huge
numbers in ``Range``, year 0000 in the date fields, a non-ASCII multipart boundary, lone surrogates in the
handshake's text, a client that leaves in the middle of a handshake body. Each test also checks the server
logged no traceback and no ERROR line.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.seed_protocol import SeedClient, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

HUGE = "9" * 4400  # over Python's 4,300-digit limit for int()
YEAR_0 = "Sat, 01 Jan 0000 00:00:00 GMT"
BODY = os.urandom(1000)


@pytest.fixture(scope="module")
def hosted(shared_server: ServerProcess) -> Iterator[ServerProcess]:
    """The shared server with one downloadable file, ``a.bin``."""
    folder = shared_server.data_dir / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.bin").write_bytes(BODY)
    yield shared_server


async def logged_so_far(server: ServerProcess) -> None:
    """Return once every line the server logged before this call has reached ``server.log``: upload a new
    file and wait for the line saying it was assembled (the log is one ordered stream)."""
    p = plan(os.urandom(64))
    async with aiohttp.ClientSession() as http:
        await SeedClient(http, server.url).upload(p)
    wait_until(lambda: server.assemblies(p.file_id) == 1, what="the marker upload's log line")


@pytest.fixture
async def no_new_errors(hosted: ServerProcess) -> AsyncIterator[ServerProcess]:
    before = len(hosted.log)
    yield hosted
    await logged_so_far(hosted)
    new = hosted.log[before:]
    assert [line for line in new if "Traceback" in line or " ERROR " in line] == []


async def get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.read()


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"Range": f"bytes=0-{HUGE}"}, 206, BODY),  # to the end
        ({"Range": f"bytes=-{HUGE}"}, 206, BODY),  # a suffix longer than the file: all of it
        ({"Range": f"bytes={HUGE}-"}, 416, None),
        ({"If-Modified-Since": YEAR_0}, 200, BODY),  # an invalid date: the field is ignored
        ({"If-Unmodified-Since": YEAR_0}, 200, BODY),
        ({"If-Range": YEAR_0, "Range": "bytes=0-4"}, 200, BODY),  # If-Range does not hold: the whole file
    ],
)
@pytest.mark.parametrize("path", ["/download/a.bin", "/upload/{file_id}.bin"])
async def test_odd_range_and_date_fields(
    no_new_errors: ServerProcess,
    http: aiohttp.ClientSession,
    path: str,
    headers: dict[str, str],
    status: int,
    body: bytes | None,
) -> None:
    server = no_new_errors
    p = plan(BODY)
    await SeedClient(http, server.url).upload(p)
    got_status, got_body = await get(http, server.url + path.format(file_id=p.file_id), headers)
    assert got_status == status
    if body is not None:
        assert got_body == body


async def test_a_boundary_that_is_not_ascii(
    no_new_errors: ServerProcess, http: aiohttp.ClientSession
) -> None:
    for boundary in ("€", "é"):
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        async with http.post(no_new_errors.url + "/api/upload", data=b"x", headers=headers) as resp:
            answer = await resp.json()
        assert (resp.status, answer["error"]) == (400, "BAD_FORM")
        assert "ASCII" in answer["msg"]


@pytest.mark.parametrize(("field", "error"), [("name", "BAD_NAME"), ("ext", "BAD_EXT")])
async def test_a_lone_surrogate_in_the_handshake(
    no_new_errors: ServerProcess, http: aiohttp.ClientSession, field: str, error: str
) -> None:
    file_id = hashlib.md5(b"surrogate").hexdigest()
    value = "a\\ud800" if field == "name" else ".b\\ud800"  # JSON escapes: the body itself is valid UTF-8
    raw = f'{{"fileId":"{file_id}","ext":".bin","chunkIds":[],"{field}":"{value}"}}'.encode()
    async with http.post(
        no_new_errors.url + "/api/upload/handshake", data=raw, headers={"Content-Type": "application/json"}
    ) as resp:
        answer = await resp.json()
    assert (resp.status, answer["error"]) == (400, error)
    assert "lone surrogate" in answer["msg"]
    async with http.get(f"{no_new_errors.url}/upload/{file_id}.bin") as resp:
        assert resp.status == 404  # nothing was stored for it


async def test_a_client_that_leaves_in_the_middle_of_a_handshake(no_new_errors: ServerProcess) -> None:
    host, port = no_new_errors.url.removeprefix("http://").split(":")
    for _ in range(3):
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /api/upload/handshake HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"fileId":'
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    await logged_so_far(no_new_errors)  # then the fixture finds no traceback for them
