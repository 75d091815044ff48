"""The IETF resumable-upload draft (interop version 8) at /files/ against the real server, from the draft's text.

Creation (``Upload-Complete`` without ``Tus-Resumable``), offset retrieval, append (``PATCH`` with
``application/partial-upload``), cancellation, the 104 interim answer, problem details, RFC 9530 digests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
from urllib.parse import urlsplit

import aiohttp

from tests.support.server_process import ServerProcess
from tests.support.waiting import async_wait_until

ON_EVERY_BACKEND = True  # the local default, and PostgreSQL + S3 (tests/conftest.py)

PARTIAL = {"Content-Type": "application/partial-upload"}


def sf_bytes(data: bytes) -> str:
    return f":{base64.b64encode(data).decode()}:"


async def create(
    http: aiohttp.ClientSession, server: ServerProcess, data: bytes, complete: bool, **headers: str
) -> aiohttp.ClientResponse:
    fields = {"Upload-Complete": "?1" if complete else "?0", **headers}
    async with http.post(f"{server.url}/files/", data=data, headers=fields) as resp:
        await resp.read()
        return resp


async def append(
    http: aiohttp.ClientSession, url: str, offset: int, data: bytes, complete: bool, **headers: str
) -> tuple[aiohttp.ClientResponse, bytes]:
    fields = {
        **PARTIAL,
        "Upload-Offset": str(offset),
        "Upload-Complete": "?1" if complete else "?0",
        **headers,
    }
    async with http.patch(url, data=data, headers=fields) as resp:
        return resp, await resp.read()


async def published(http: aiohttp.ClientSession, server: ServerProcess, data: bytes, ext: str = "") -> bytes:
    async with http.get(f"{server.url}/upload/{hashlib.md5(data).hexdigest()}{ext}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.read()


async def test_options_answers_for_both_protocols(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    async with http.options(f"{server.url}/files/") as resp:
        # "the server MUST include the Accept-Patch header field ... MUST include the full
        # application/partial-upload media type"; "The Upload-Limit header field SHOULD be included"
        assert resp.status == 204 and resp.headers["Accept-Patch"] == "application/partial-upload"
        assert "max-size=17179869184" in resp.headers["Upload-Limit"]
        assert resp.headers["Tus-Version"] == "1.0.0"


async def test_example_2_upload_as_a_series_of_parts(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(300_000)
    disposition = {"Content-Disposition": "inline; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf"}
    resp = await create(http, server, data[:100_000], False, **disposition)
    # "the server MUST include the Location response header field ... and MUST include the Upload-Limit";
    # "Servers are RECOMMENDED to use the 201 (Created) status code."
    assert resp.status == 201 and "max-age=" in resp.headers["Upload-Limit"]
    url = resp.headers["Location"]
    assert "Tus-Resumable" not in resp.headers
    async with http.head(url) as head:
        assert head.status == 204 and head.headers["Cache-Control"] == "no-store"
        assert head.headers["Upload-Offset"] == "100000" and head.headers["Upload-Complete"] == "?0"
        assert "Upload-Length" not in head.headers  # the client has not supplied one
    resp, _ = await append(http, url, 100_000, data[100_000:200_000], False)
    assert resp.status == 204 and resp.headers["Upload-Complete"] == "?0"
    resp, body = await append(http, url, 200_000, data[200_000:], True)
    # "the response MUST include the Upload-Complete header field with a true value"
    assert resp.status == 200 and resp.headers["Upload-Complete"] == "?1"
    md5 = hashlib.md5(data).hexdigest()
    assert json.loads(body)["data"]["fileId"] == md5
    async with http.head(url) as head:  # "B) ... an offset retrieval request for a completed upload"
        assert head.headers["Upload-Complete"] == "?1" and head.headers["Upload-Length"] == str(len(data))
    assert await published(http, server, data, ".pdf") == data


async def test_example_1_the_whole_upload_in_one_request(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(50_000)
    resp = await create(http, server, data, True, **{"Upload-Length": str(len(data))})
    assert resp.status == 200 and resp.headers["Upload-Complete"] == "?1"
    assert await published(http, server, data) == data


async def test_a_mismatching_offset_is_409_with_problem_details(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    url = (await create(http, server, b"12345", False)).headers["Location"]
    resp, body = await append(http, url, 3, b"678", False)
    # "MUST reject the request with a 409 (Conflict) status code. The response MUST include the correct offset"
    assert resp.status == 409 and resp.headers["Upload-Offset"] == "5"
    assert resp.content_type == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
    assert (problem["expected-offset"], problem["provided-offset"]) == (5, 3)


async def test_appends_are_checked(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = (await create(http, server, b"12345", False, **{"Upload-Length": "8"})).headers["Location"]
    resp, _ = await append(http, url, 5, b"678", False, **{"Content-Type": "application/octet-stream"})
    assert resp.status == 415
    resp, _ = await append(http, url, 5, b"6789", False)  # past the length: refused, nothing kept
    assert resp.status in (400, 413)
    async with http.head(url) as head:
        assert head.headers["Upload-Offset"] == "5"
    resp, _ = await append(http, url, 5, b"678", True)
    assert resp.status == 200
    # "If the upload is already complete, the server MUST NOT modify the upload resource and MUST reject"
    resp, body = await append(http, url, 8, b"9", False)
    assert resp.status == 400 and b"completed-upload" in body


async def test_inconsistent_lengths_are_refused(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    resp = await create(http, server, b"12345", True, **{"Upload-Length": "9"})
    # "If indicators (1) and (2) are both present in the same request, their indicated lengths MUST match."
    assert resp.status == 400


async def test_content_digest_is_checked(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = (await create(http, server, b"", False)).headers["Location"]
    wrong = {"Content-Digest": f"sha-256={sf_bytes(hashlib.sha256(b'other').digest())}"}
    resp, body = await append(http, url, 0, b"hello", False, **wrong)
    assert resp.status == 400 and b"DIGEST_MISMATCH" in body
    async with http.head(url) as head:
        assert head.headers["Upload-Offset"] == "0"  # nothing of it kept
    right = {"Content-Digest": f"sha-512={sf_bytes(hashlib.sha512(b'hello').digest())}"}
    resp, _ = await append(http, url, 0, b"hello", True, **right)
    assert resp.status == 200


async def test_repr_digest_is_checked_and_want_repr_digest_answered(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(10_000)
    good = {"Repr-Digest": f"sha-256={sf_bytes(hashlib.sha256(data).digest())}"}
    url = (await create(http, server, data[:4000], False, **good)).headers["Location"]
    resp, _ = await append(http, url, 4000, data[4000:], True, **{"Want-Repr-Digest": "sha-512=9, sha-256=1"})
    assert resp.status == 200
    assert resp.headers["Repr-Digest"] == f"sha-512={sf_bytes(hashlib.sha512(data).digest())}"
    bad = {"Repr-Digest": f"sha-256={sf_bytes(hashlib.sha256(b'not it').digest())}"}
    other = os.urandom(1000)
    url = (await create(http, server, other[:10], False, **bad)).headers["Location"]
    resp, _ = await append(http, url, 10, other[10:], True)
    assert (
        resp.status == 400
    )  # "the server SHOULD consider the upload failed, not process the representation"
    async with http.get(f"{server.url}/upload/{hashlib.md5(other).hexdigest()}") as got:
        assert got.status == 404


async def test_cancellation(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = (await create(http, server, b"12345", False)).headers["Location"]
    async with http.delete(url) as resp:
        assert resp.status == 204
    async with http.head(url) as resp:
        assert resp.status == 404


def _raw_create(server: ServerProcess, extra: str, body: bytes, length: int) -> socket.socket:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(
        (
            f"POST /files/ HTTP/1.1\r\nHost: {parts.netloc}\r\nUpload-Complete: ?1\r\n{extra}"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        + body
    )
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    sock.settimeout(10)
    seen = b""
    while marker not in seen:
        piece = sock.recv(65536)
        assert piece, f"the connection closed before {marker!r}: {seen!r}"
        seen += piece
    return seen


async def test_104_upload_resumption_supported_then_a_cut_request_resumed(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """Example 1: the client learns the upload resource from the 104 interim answer, is cut off, and resumes."""
    data = os.urandom(200_000)
    with _raw_create(server, "Upload-Draft-Interop-Version: 8\r\n", data[:70_000], len(data)) as sock:
        head = _read_until(sock, b"\r\n\r\n").decode("latin-1")
    assert head.startswith("HTTP/1.1 104 Upload Resumption Supported\r\n")
    url = next(line.split(": ", 1)[1] for line in head.split("\r\n") if line.lower().startswith("location:"))

    async def kept() -> bool:
        async with http.head(url) as resp:
            return resp.headers.get("Upload-Offset") == "70000" and resp.headers["Upload-Complete"] == "?0"

    await async_wait_until(kept, what="the 70000 bytes that arrived kept, the upload not complete")
    resp, _ = await append(http, url, 70_000, data[70_000:], True)
    assert resp.status == 200
    assert await published(http, server, data) == data


async def test_no_104_to_a_client_of_another_interop_version(server: ServerProcess) -> None:
    with _raw_create(server, "Upload-Draft-Interop-Version: 6\r\n", b"abc", 3) as sock:
        head = _read_until(sock, b"\r\n\r\n").decode("latin-1")
    assert head.startswith("HTTP/1.1 200 OK")
