"""tus 1.0.0 at /files/ against the real server, rule by rule from the protocol's text.

Each test names the rule it checks; the real clients (tuspy, tus-js-client, Uppy) are in their own tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.support.server_process import ServerProcess
from tests.support.waiting import async_wait_until

ON_EVERY_BACKEND = True  # the local default, and PostgreSQL + S3 (tests/conftest.py)

TUS = {"Tus-Resumable": "1.0.0"}
STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def create(
    http: aiohttp.ClientSession, server: ServerProcess, length: int | None, **headers: str
) -> str:
    fields = {**TUS, **headers}
    if length is None:
        fields["Upload-Defer-Length"] = "1"
    else:
        fields["Upload-Length"] = str(length)
    async with http.post(f"{server.url}/files/", headers=fields) as resp:
        assert resp.status == 201, await resp.text()
        assert resp.headers["Tus-Resumable"] == "1.0.0" and "Upload-Expires" in resp.headers
        return resp.headers["Location"]


async def patch(
    http: aiohttp.ClientSession, url: str, offset: int, data: bytes, **headers: str
) -> aiohttp.ClientResponse:
    async with http.patch(
        url, data=data, headers={**STREAM, "Upload-Offset": str(offset), **headers}
    ) as resp:
        await resp.read()
        return resp


async def head(http: aiohttp.ClientSession, url: str, **headers: str) -> aiohttp.ClientResponse:
    async with http.head(url, headers={**TUS, **headers}) as resp:
        return resp


async def published(http: aiohttp.ClientSession, server: ServerProcess, data: bytes, ext: str = "") -> bytes:
    async with http.get(f"{server.url}/upload/{hashlib.md5(data).hexdigest()}{ext}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.read()


async def test_options_advertises_what_works(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    async with http.options(f"{server.url}/files/") as resp:
        # "A successful response ... MUST contain the Tus-Version header"; OPTIONS carries no Tus-Resumable.
        assert resp.status == 204 and resp.headers["Tus-Version"] == "1.0.0"
        assert "Tus-Resumable" not in resp.headers
        assert set(resp.headers["Tus-Extension"].split(",")) == {
            "creation",
            "creation-with-upload",
            "creation-defer-length",
            "termination",
            "checksum",
            "expiration",
            "concatenation",
        }
        assert resp.headers["Tus-Max-Size"] == str(16 * 1024**3)  # --max-file-bytes
        assert "sha1" in resp.headers["Tus-Checksum-Algorithm"].split(",")


async def test_the_spec_example_upload_then_resume(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = os.urandom(100)
    url = await create(http, server, 100, **{"Upload-Metadata": f"filename {b64(b'report.pdf')},x"})
    resp = await head(http, url)
    assert (
        resp.status == 200 and resp.headers["Upload-Offset"] == "0" and resp.headers["Upload-Length"] == "100"
    )
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Upload-Metadata"] == f"filename {b64(b'report.pdf')},x"  # as the client gave it
    resp = await patch(http, url, 0, data[:70])
    assert resp.status == 204 and resp.headers["Upload-Offset"] == "70" and "Upload-Expires" in resp.headers
    assert (await head(http, url)).headers["Upload-Offset"] == "70"
    resp = await patch(http, url, 70, data[70:])
    assert resp.status == 204 and resp.headers["Upload-Offset"] == "100"
    # Complete: the resource still answers, offset = length; the file is published under its MD5.
    assert (await head(http, url)).headers["Upload-Offset"] == "100"
    assert await published(http, server, data, ".pdf") == data


async def test_version_media_type_and_offset_are_checked(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    url = await create(http, server, 10)
    # "it MUST respond with the 412 Precondition Failed status and MUST include the Tus-Version header"
    async with http.head(url, headers={"Tus-Resumable": "0.2.2"}) as resp:
        assert resp.status == 412 and resp.headers["Tus-Version"] == "1.0.0"
    async with http.post(f"{server.url}/files/", headers={"Upload-Length": "5"}) as resp:
        assert resp.status == 412
    # "otherwise the server SHOULD return a 415 Unsupported Media Type status"
    resp = await patch(http, url, 0, b"12345", **{"Content-Type": "application/octet-stream"})
    assert resp.status == 415 and resp.headers["Tus-Resumable"] == "1.0.0"
    # "If the offsets do not match, the Server MUST respond with the 409 Conflict status without modifying"
    resp = await patch(http, url, 3, b"12345")
    assert resp.status == 409
    assert (await head(http, url)).headers["Upload-Offset"] == "0"
    resp = await patch(http, url, 0, b"12345", **{"Upload-Offset": "-1"})
    assert resp.status == 400


async def test_unknown_and_terminated_uploads(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = await create(http, server, 10)
    assert (await patch(http, url, 0, b"12345")).status == 204
    async with http.delete(url, headers=TUS) as resp:
        assert resp.status == 204  # "MUST respond with the 204 No Content status"
    for probe in (url, f"{server.url}/files/nothing-here"):
        resp = await head(http, probe)
        # "the Server SHOULD return either the 404 Not Found ... without the Upload-Offset header"
        assert resp.status == 404 and "Upload-Offset" not in resp.headers
        assert (await patch(http, probe, 0, b"x")).status == 404


async def test_creation_rules(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    async def status(**headers: str) -> int:
        async with http.post(f"{server.url}/files/", headers={**TUS, **headers}) as resp:
            return resp.status

    assert await status() == 400  # neither Upload-Length nor Upload-Defer-Length
    assert await status(**{"Upload-Defer-Length": "2"}) == 400  # "any other value than 1"
    assert await status(**{"Upload-Length": "5", "Upload-Defer-Length": "1"}) == 400
    assert await status(**{"Upload-Length": "five"}) == 400
    assert await status(**{"Upload-Length": str(16 * 1024**3 + 1)}) == 413  # over Tus-Max-Size
    assert await status(**{"Upload-Length": "5", "Upload-Metadata": "filename not*base64"}) == 400
    assert await status(**{"Upload-Length": "5", "Upload-Metadata": "a YQ==,a YQ=="}) == 400  # keys unique


async def test_an_empty_upload_is_complete_at_once(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    url = await create(http, server, 0, **{"Upload-Metadata": f"filename {b64(b'empty.txt')}"})
    resp = await head(http, url)
    assert resp.headers["Upload-Offset"] == "0" and resp.headers["Upload-Length"] == "0"
    assert await published(http, server, b"", ".txt") == b""


async def test_creation_with_upload(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    data = b"hello world"
    async with http.post(
        f"{server.url}/files/", data=data[:5], headers={**STREAM, "Upload-Length": str(len(data))}
    ) as resp:
        # "MUST include the Upload-Offset header in the response ... after applying the accepted bytes"
        assert resp.status == 201 and resp.headers["Upload-Offset"] == "5"
        url = resp.headers["Location"]
    assert (await patch(http, url, 5, data[5:])).headers["Upload-Offset"] == str(len(data))
    assert await published(http, server, data) == data


async def test_deferred_length(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    data = os.urandom(3000)
    url = await create(http, server, None)
    resp = await head(http, url)
    # "As long as the length of the upload is not known, the Server MUST set Upload-Defer-Length: 1"
    assert resp.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in resp.headers
    assert (await patch(http, url, 0, data[:1000])).status == 204
    # "the Client MUST set the Upload-Length header in the next PATCH request, once the length is known"
    assert (await patch(http, url, 1000, data[1000:], **{"Upload-Length": "3000"})).status == 204
    resp = await head(http, url)
    assert resp.headers["Upload-Length"] == "3000" and "Upload-Defer-Length" not in resp.headers
    assert await published(http, server, data) == data


async def test_the_length_once_set_does_not_change_and_nothing_goes_past_it(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    url = await create(http, server, 10)
    assert (await patch(http, url, 0, b"1234", **{"Upload-Length": "12"})).status == 400
    resp = await patch(http, url, 0, b"0123456789AB")
    assert resp.status == 413
    assert (await head(http, url)).headers["Upload-Offset"] == "0"  # nothing of it kept


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
async def test_checksums(server: ServerProcess, http: aiohttp.ClientSession, algorithm: str) -> None:
    data = os.urandom(5000)
    url = await create(http, server, len(data))
    good = f"{algorithm} {b64(hashlib.new(algorithm, data[:2000]).digest())}"
    assert (await patch(http, url, 0, data[:2000], **{"Upload-Checksum": good})).status == 204
    bad = f"{algorithm} {b64(hashlib.new(algorithm, b'other').digest())}"
    resp = await patch(http, url, 2000, data[2000:], **{"Upload-Checksum": bad})
    # "460 Checksum Mismatch ... the uploaded chunk MUST be discarded, and the upload and its offset MUST NOT
    # be updated."
    assert resp.status == 460 and resp.reason == "Checksum Mismatch"
    assert (await head(http, url)).headers["Upload-Offset"] == "2000"
    resp = await patch(http, url, 2000, data[2000:], **{"Upload-Checksum": f"crc32 {b64(b'1234')}"})
    assert resp.status == 400  # "if the checksum algorithm is not supported by the server"
    good = f"{algorithm} {b64(hashlib.new(algorithm, data[2000:]).digest())}"
    assert (await patch(http, url, 2000, data[2000:], **{"Upload-Checksum": good})).status == 204
    assert await published(http, server, data) == data


async def test_method_override(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    url = await create(http, server, 5)
    override = {**STREAM, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"}
    async with http.post(url, data=b"abcde", headers=override) as resp:
        assert resp.status == 204 and resp.headers["Upload-Offset"] == "5"
    async with http.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}) as resp:
        assert resp.status == 204
    assert (await head(http, url)).status == 404


async def test_expiry_answers_404(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    server = make_server(
        "--upload-ttl-seconds", "1", "--empty-upload-ttl-seconds", "1", "--sweep-interval-seconds", "0.2"
    )
    url = await create(http, server, 10)
    assert (await patch(http, url, 0, b"12345")).status == 204

    async def gone() -> bool:
        return (await head(http, url)).status == 404

    await async_wait_until(gone, what="the upload expired")
    assert (await patch(http, url, 5, b"67890")).status == 404


async def test_a_second_append_at_once_is_refused_while_the_first_runs(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """One writer per upload: the second PATCH gets 423 Locked (tus-js-client retries it)."""
    url = await create(http, server, 2_000_000)
    parts = urlsplit(url)

    def slow_patch() -> socket.socket:
        """A PATCH that sends 1000 of its 2,000,000 bytes, then nothing."""
        slow = socket.create_connection((parts.hostname, parts.port))
        slow.sendall(
            (
                f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                "Content-Length: 2000000\r\n\r\n"
            ).encode()
            + b"x" * 1000
        )
        slow.setblocking(False)
        return slow

    slow = slow_patch()
    try:

        async def locked() -> bool:
            nonlocal slow
            # A probe that changes nothing either way: its checksum is wrong (460) unless it is refused first.
            wrong = {"Upload-Checksum": f"sha1 {b64(hashlib.sha1(b'other').digest())}"}
            if (await patch(http, url, 0, b"y" * 10, **wrong)).status == 423:
                return True
            with contextlib.suppress(BlockingIOError):
                if slow.recv(1024):  # answered: the probe got there first and the slow one was refused (423)
                    slow.close()
                    slow = slow_patch()
            return False

        await async_wait_until(locked, what="the second PATCH refused with 423")
    finally:
        slow.close()
    # The first one was cut off: what arrived is kept, and the offset says so.

    async def kept() -> bool:
        resp = await head(http, url)
        return resp.headers.get("Upload-Offset") == "1000"

    await async_wait_until(kept, what="the 1000 bytes that arrived kept")

    async def appended() -> bool:
        # The cut-off PATCH's offset is visible a moment before its claim on the upload's end is released
        # (on the cluster backend: an advisory lock, one more round trip): 423 until then, as clients expect.
        status = (await patch(http, url, 1000, b"z" * 1_999_000)).status
        assert status in (204, 423), status
        return status == 204

    await async_wait_until(appended, what="the rest appended once the first PATCH's claim is released")
    assert await published(http, server, b"x" * 1000 + b"z" * 1_999_000) == b"x" * 1000 + b"z" * 1_999_000


async def test_offsets_survive_kill_9(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    data = os.urandom(3 * 1024 * 1024)
    url = await create(http, server, len(data))
    assert (await patch(http, url, 0, data[:1_500_000])).status == 204
    server.restart(same_port=True, hard=True)  # kill -9, then start again on the same port
    assert (await head(http, url)).headers["Upload-Offset"] == "1500000"
    assert (await patch(http, url, 1_500_000, data[1_500_000:])).status == 204
    assert await published(http, server, data) == data


async def test_the_same_file_by_tus_and_by_the_seeds_protocol(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """One storage: a file uploaded with tus is found at once by the seed's handshake (instant upload)."""
    data = os.urandom(2 * 1024 * 1024 + 5)
    url = await create(http, server, len(data), **{"Upload-Metadata": f"filename {b64(b'movie.mp4')}"})
    assert (await patch(http, url, 0, data)).status == 204
    md5 = hashlib.md5(data).hexdigest()
    chunks = [data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]
    ids = [hashlib.md5(c).hexdigest() + str(i) for i, c in enumerate(chunks)]
    body = {"fileId": md5, "ext": ".mp4", "chunkIds": ids}
    async with http.post(f"{server.url}/api/upload/handshake", json=body) as resp:
        answer = await resp.json()
    assert answer["data"] == f"{server.url}/upload/{md5}.mp4"


async def test_many_uploads_at_once(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    files = [os.urandom(200_000 + i) for i in range(8)]

    async def upload(data: bytes) -> None:
        url = await create(http, server, len(data))
        for start in range(0, len(data), 64_000):
            assert (await patch(http, url, start, data[start : start + 64_000])).status == 204

    await asyncio.gather(*(upload(data) for data in files))
    for data in files:
        assert await published(http, server, data) == data


async def test_concatenation(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    """The spec's example: partial uploads "hello" and " world" in parallel, then a final one."""
    partial = {"Upload-Concat": "partial"}
    a, b = await asyncio.gather(create(http, server, 5, **partial), create(http, server, 6, **partial))
    await asyncio.gather(patch(http, a, 0, b"hello"), patch(http, b, 0, b" world"))
    resp = await head(http, a)
    assert resp.headers["Upload-Concat"] == "partial" and resp.headers["Upload-Offset"] == "5"
    # "The Server SHOULD NOT process these partial uploads until they are concatenated"
    async with http.get(f"{server.url}/upload/{hashlib.md5(b'hello').hexdigest()}") as got:
        assert got.status == 404
    relative_b = urlsplit(b).path  # "The partial uploads URLs MAY be absolute or relative"
    concat = f"final;{a} {relative_b}"
    metadata = {"Upload-Metadata": f"filename {b64(b'greeting.txt')}"}
    async with http.post(
        f"{server.url}/files/", headers={**TUS, "Upload-Concat": concat, **metadata}
    ) as resp:
        assert resp.status == 201, await resp.text()
        final = resp.headers["Location"]
    resp = await head(http, final)
    # "After successful concatenation, the Upload-Offset and Upload-Length MUST be set and ... equal."
    assert resp.headers["Upload-Offset"] == resp.headers["Upload-Length"] == "11"
    assert resp.headers["Upload-Concat"] == concat
    assert await published(http, server, b"hello world", ".txt") == b"hello world"
    # "The Server MUST respond with the 403 Forbidden status to PATCH requests against a final upload URL"
    assert (await patch(http, final, 11, b"!")).status == 403
    # "The Client ... MAY attempt to use a partial upload multiple times"
    async with http.post(
        f"{server.url}/files/", headers={**TUS, "Upload-Concat": f"final;{b} {b} {a}"}
    ) as resp:
        assert resp.status == 201
    assert await published(http, server, b" world world" + b"hello") == b" world worldhello"


async def test_concatenation_refuses_what_it_cannot_do(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    unfinished = await create(http, server, 5, **{"Upload-Concat": "partial"})
    plain = await create(http, server, 1)
    assert (await patch(http, plain, 0, b"x")).status == 204

    async def status(concat: str, **headers: str) -> int:
        async with http.post(
            f"{server.url}/files/", headers={**TUS, "Upload-Concat": concat, **headers}
        ) as resp:
            return resp.status

    assert await status(f"final;{unfinished}") == 400  # not complete (no concatenation-unfinished)
    assert await status(f"final;{plain}") == 400  # not a partial upload
    assert await status(f"final;{server.url}/files/nothing") == 404
    assert await status("final;") == 400
    assert await status("final;http://elsewhere.example/x") == 400
    assert await status(f"final;{unfinished}", **{"Upload-Length": "5"}) == 400


async def test_per_client_limits_apply_to_tus_too(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    server = make_server("--max-uploads-per-client", "2", "--max-upload-bytes-per-hour-per-client", "3000")
    first = await create(http, server, 2000)
    await create(http, server, 10)
    async with http.post(f"{server.url}/files/", headers={**TUS, "Upload-Length": "5"}) as resp:
        assert resp.status == 429 and (await resp.json())["error"] == "TOO_MANY_UPLOADS"
    assert (await patch(http, first, 0, os.urandom(2000))).status == 204  # published: it counts no more
    await create(http, server, 10)  # the slots are full again
    async with http.post(f"{server.url}/files/", headers={**TUS, "Upload-Length": "5"}) as resp:
        assert resp.status == 429
    # 2000 of the hour's 3000 bytes are spent: a 2000-byte append is refused before its body is read.
    other = make_server("--max-upload-bytes-per-hour-per-client", "3000")
    url = await create(http, other, 4000)
    assert (await patch(http, url, 0, os.urandom(2000))).status == 204
    resp = await patch(http, url, 2000, os.urandom(2000))
    assert resp.status == 429 and "Retry-After" in resp.headers
    assert (await head(http, url)).headers["Upload-Offset"] == "2000"


async def test_a_refused_creation_with_upload_leaves_nothing(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    wrong = {"Upload-Checksum": f"sha1 {b64(hashlib.sha1(b'other').digest())}", "Upload-Length": "5"}
    async with http.post(f"{server.url}/files/", data=b"hello", headers={**STREAM, **wrong}) as resp:
        assert resp.status == 460 and "Location" not in resp.headers
    async with http.post(
        f"{server.url}/files/", data=b"toolong", headers={**STREAM, "Upload-Length": "5"}
    ) as resp:
        assert resp.status == 413
    async with http.get(f"{server.url}/healthz") as resp:
        assert (await resp.json())["data"]["uploadsInProgress"] == 0


async def test_every_tus_answer_but_options_says_tus_resumable(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    url = await create(http, server, 5)
    for method, target in (("GET", url), ("PUT", url), ("GET", f"{server.url}/files/")):
        async with http.request(method, target, headers=TUS) as resp:
            assert resp.status == 405 and resp.headers["Tus-Resumable"] == "1.0.0", (method, target)


async def test_a_refusal_before_the_body_is_read_ends_the_connection(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """Rather than linger for a body nobody wants (aiohttp would wait 10 s for it), the answer closes."""
    url = await create(http, server, 100_000)
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(
            (
                f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 7\r\n"
                "Content-Length: 100000\r\n\r\n"
            ).encode()
        )
        sock.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 409") and b"Connection: close" in head
