"""Bad input and limits: always a 4xx with a clear message in the envelope, never a 500, nothing written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.seed_protocol import CHUNK, SeedClient, form_body, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

MD5 = hashlib.md5(b"x").hexdigest()
GOOD_IDS = [hashlib.md5(b"x").hexdigest() + "0"]


def handshake(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"fileId": MD5, "ext": ".txt", "chunkIds": GOOD_IDS}
    for key, value in overrides.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


HANDSHAKE_CASES: list[tuple[str, Any, int, str]] = [
    ("missing fileId", handshake(fileId=...), 403, "MISSING_FILE_ID"),
    ("empty fileId", handshake(fileId=""), 403, "MISSING_FILE_ID"),
    ("short fileId", handshake(fileId="abc"), 400, "BAD_FILE_ID"),
    ("non-hex fileId", handshake(fileId="z" * 32), 400, "BAD_FILE_ID"),
    ("numeric fileId", handshake(fileId=12345), 400, "BAD_FILE_ID"),
    ("missing chunkIds", handshake(chunkIds=...), 400, "BAD_FIELD"),
    ("chunkIds not a list", handshake(chunkIds="abc"), 400, "BAD_FIELD"),
    ("chunk id malformed", handshake(chunkIds=["nothex0"]), 400, "BAD_CHUNK_ID"),
    ("chunk id not a string", handshake(chunkIds=[7]), 400, "BAD_CHUNK_ID"),
    ("chunk index off", handshake(chunkIds=[MD5 + "1"]), 400, "BAD_CHUNK_ID"),
    ("chunk ids duplicated", handshake(chunkIds=[MD5 + "0", MD5 + "0"]), 400, "BAD_CHUNK_ID"),
    ("ext with slash", handshake(ext="./../../etc"), 400, "BAD_EXT"),
    ("ext with backslash", handshake(ext=".a\\b"), 400, "BAD_EXT"),
    ("ext with dot-dot", handshake(ext=".."), 400, "BAD_EXT"),
    ("ext with NUL", handshake(ext=".a\x00"), 400, "BAD_EXT"),
    ("ext with newline", handshake(ext=".a\nb"), 400, "BAD_EXT"),
    ("ext too long", handshake(ext="." + "a" * 16), 400, "BAD_EXT"),
    ("ext without dot", handshake(ext="jpg"), 400, "BAD_EXT"),
    ("ext not a string", handshake(ext=["x"]), 400, "BAD_EXT"),
    ("name with slash", handshake(name="../x"), 400, "BAD_NAME"),
    ("size negative", handshake(size=-1), 400, "BAD_FIELD"),
    ("size a string", handshake(size="10"), 400, "BAD_FIELD"),
    ("body an array", [1, 2], 400, "BAD_FIELD"),
    ("body null", None, 400, "BAD_FIELD"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "error"), HANDSHAKE_CASES, ids=[c[0] for c in HANDSHAKE_CASES]
)
async def test_bad_handshake(
    shared_server: ServerProcess, http: aiohttp.ClientSession, case: str, body: Any, status: int, error: str
) -> None:
    server = shared_server
    answer = await SeedClient(http, server.url).post_json("/api/upload/handshake", body)
    assert (answer.status, answer.body["code"], answer.body["error"]) == (status, status, error)
    assert answer.body["data"] is None and answer.body["msg"]
    assert server.errors_logged() == []


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"\xff\xfe", b"[" * 100000 + b"]" * 100000, b'{"fileId": NaN']
)
async def test_malformed_json(shared_server: ServerProcess, http: aiohttp.ClientSession, raw: bytes) -> None:
    server = shared_server
    answer = await SeedClient(http, server.url).post_json("/api/upload/handshake", raw=raw)
    assert answer.status == 400 and answer.body["error"] == "BAD_JSON", answer.body
    assert server.errors_logged() == []


async def test_nothing_written_outside_the_data_dir(
    server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = SeedClient(http, server.url)
    for ext in ("/../../escape", "/../x", "\\..\\x", ".x/../../y"):
        await client.post_json("/api/upload/handshake", handshake(ext=ext))
    assert sorted(p.name for p in tmp_path.iterdir()) == [server.data_dir.name]


def form(p: Any, **parts: Any) -> list[tuple[str, bytes | str]]:
    fields: list[tuple[str, bytes | str]] = [
        ("file", p.chunks[0]),
        ("chunkId", p.chunk_ids[0]),
        ("fileId", p.file_id),
    ]
    out = []
    for name, value in fields:
        if name in parts:
            if parts[name] is ...:
                continue
            value = parts[name]
        out.append((name, value))
    return out


async def test_bad_chunk_forms(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(CHUNK + 5))
    other = plan(os.urandom(10))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    cases: list[tuple[str, list[tuple[str, bytes | str]], int, str]] = [
        ("missing fileId", form(p, fileId=...), 403, "MISSING_FILE_ID"),
        ("bad fileId", form(p, fileId="xyz"), 400, "BAD_FILE_ID"),
        ("missing chunkId", form(p, chunkId=...), 400, "BAD_CHUNK_ID"),
        ("bad chunkId", form(p, chunkId="0"), 400, "BAD_CHUNK_ID"),
        ("missing file", form(p, file=...), 400, "BAD_FIELD"),
        ("unknown file", form(p, fileId=other.file_id), 404, "UNKNOWN_UPLOAD"),
        ("chunk not in the list", form(p, chunkId=other.chunk_ids[0]), 409, "UNKNOWN_CHUNK"),
        ("chunk index beyond the list", form(p, chunkId=p.chunk_ids[0][:32] + "7"), 409, "UNKNOWN_CHUNK"),
        ("two file parts", form(p) + [("file", b"x")], 400, "BAD_FORM"),
    ]
    for case, fields, status, error in cases:
        answer = await client.post_form(fields)
        assert (answer.status, answer.body.get("code"), answer.body.get("error")) == (
            status,
            status,
            error,
        ), case
        assert answer.body["msg"], case
    assert (await client.handshake(p)).data == p.chunk_ids  # nothing was stored
    assert not any((server.data_dir / "tmp").iterdir())
    assert server.errors_logged() == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"fileId": "x"}'),
        ("multipart/form-data", b"--x\r\n\r\n"),  # no boundary parameter
        ("multipart/form-data; boundary=abc", b"garbage without any boundary"),
        (
            "multipart/form-data; boundary=abc",
            b'--abc\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
        ),
        ("application/x-www-form-urlencoded", b"fileId=abc&chunkId=def"),
    ],
)
async def test_malformed_forms(
    shared_server: ServerProcess, http: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    server = shared_server
    async with http.post(
        f"{server.url}/api/upload", data=body, headers={"content-type": content_type}
    ) as resp:
        answer = await resp.json(content_type=None)
    assert 400 <= resp.status < 500 and answer["code"] == resp.status and answer["msg"], answer
    assert server.errors_logged() == []


async def test_unknown_routes_and_methods_keep_the_envelope(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/api/upload/handshake") as resp:
        assert resp.status == 405 and (await resp.json())["error"] == "METHOD_NOT_ALLOWED"
    async with http.get(f"{server.url}/api/nothing") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 404


async def test_chunk_over_the_limit(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--max-chunk-bytes", "1000")
    p = plan(os.urandom(1500), chunk_size=1500)
    client = SeedClient(http, server.url)
    await client.handshake(p)
    answer = await client.send_chunk(p, p.chunk_ids[0])
    assert answer.status == 413 and answer.body["error"] == "CHUNK_TOO_LARGE"
    assert "1000" in answer.body["msg"]
    # Streamed without Content-Length (chunked transfer encoding): the limit still holds.
    body, content_type = form_body(form(p))

    async def stream():  # type: ignore[no-untyped-def]
        for i in range(0, len(body), 700):
            yield body[i : i + 700]

    async with http.post(
        f"{server.url}/api/upload", data=stream(), headers={"content-type": content_type}
    ) as resp:
        assert resp.status == 413 and (await resp.json())["error"] == "CHUNK_TOO_LARGE"
    assert (await client.handshake(p)).data == p.chunk_ids
    assert server.errors_logged() == []


async def test_file_limit_at_handshake_and_as_chunks_arrive(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    server = make_server("--max-file-bytes", str(CHUNK + 100))
    client = SeedClient(http, server.url)
    p = plan(os.urandom(CHUNK + 200))
    early = await client.handshake(p, size=CHUNK + 200)
    assert early.status == 413 and early.body["error"] == "FILE_TOO_LARGE"
    # Without a declared size the limit applies as soon as the stored chunks pass it.
    assert (await client.handshake(p)).status == 200
    assert (await client.send_chunk(p, p.chunk_ids[0])).status == 200
    late = await client.send_chunk(p, p.chunk_ids[1])
    assert late.status == 413 and late.body["error"] == "FILE_TOO_LARGE"


async def test_too_many_chunks(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--max-chunks-per-file", "3")
    p = plan(os.urandom(400), chunk_size=100)
    answer = await SeedClient(http, server.url).handshake(p)
    assert answer.status == 413 and answer.body["error"] == "TOO_MANY_CHUNKS"


async def test_handshake_body_too_large(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--max-chunks-per-file", "3")
    raw = b'{"fileId": "' + b"a" * 300_000 + b'"}'
    answer = await SeedClient(http, server.url).post_json("/api/upload/handshake", raw=raw)
    assert answer.status == 413 and answer.body["code"] == 413 and answer.body["error"] == "BODY_TOO_LARGE"


async def test_too_many_uploads_in_progress(make_server: Any, http: aiohttp.ClientSession) -> None:
    """A slot is taken once an upload holds bytes: handshakes alone (anyone who knows an MD5 can send them)
    never fill the server."""
    server = make_server("--max-uploads-in-progress", "2")
    client = SeedClient(http, server.url)
    a, b, c = (plan(os.urandom(100), chunk_size=50) for _ in range(3))
    empty = [plan(os.urandom(100), chunk_size=50) for _ in range(5)]
    for p in empty:
        assert (await client.handshake(p)).status == 200  # no bytes: no slot
    for p in (a, b):
        assert (await client.handshake(p)).status == 200
        assert (await client.send_chunk(p, p.chunk_ids[0])).status == 200  # now it holds a slot
    assert (await client.handshake(a)).status == 200  # resuming one in progress is always fine
    refused = await client.handshake(c)
    assert refused.status == 429 and refused.body["error"] == "TOO_MANY_UPLOADS"
    assert "holding data" in refused.body["msg"]
    await client.upload(a)  # finishing one frees a place
    assert (await client.handshake(c)).status == 200


async def test_oversized_header_is_a_quiet_400(
    shared_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    ranges = ",".join(f"{i}-{i}" for i in range(0, 4000, 2))
    async with http.get(f"{shared_server.url}/download/x", headers={"Range": f"bytes={ranges}"}) as resp:
        assert resp.status == 400
    wait_until(lambda: any("answered 400" in line for line in shared_server.log), what="the one-line log")
    assert shared_server.errors_logged() == []
