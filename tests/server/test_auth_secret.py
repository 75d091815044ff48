"""``--auth-secret`` mode against the real server: tokens on every upload API and download request, proof of
possession for instant uploads, tus through tuspy with a token; and the open mode unchanged.

One server for the module (``RT_AUTH_SECRET``, so the environment variable is tested too): each test works on
files of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from tusclient.uploader import Uploader

from server.access import Scope, mint
from tests.support.http_ranges import write_random_file
from tests.support.seed_protocol import SeedClient, form_body, plan
from tests.support.server_process import ServerProcess
from wire.possession import proof_digest

SECRET = "a-test-secret-that-is-32-bytes!!"
KIB = 1024
NO_TOKEN = 'Bearer realm="resumable-transfer"'


def token(scope: Scope, *, ttl: float = 600, now: float | None = None, **claims: Any) -> str:
    return mint(SECRET.encode(), scope, now=time.time() if now is None else now, ttl=ttl, **claims)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("auth") / "data", env={"RT_AUTH_SECRET": SECRET})
    server.start()
    yield server
    server.stop()
    assert server.errors_logged() == []


@pytest.fixture
async def client(auth_server: ServerProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auth_server.url, timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def answer(
    session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    async with session.request(method, path, **kwargs) as resp:
        body = await resp.json(content_type=None) if method != "HEAD" else None
        return resp.status, dict(resp.headers), body


async def stored(auth_server: ServerProcess, data: bytes, ext: str = ".bin") -> str:
    """Upload ``data`` with a token for exactly it; its file id."""
    p = plan(data)
    grant = token(Scope.UPLOAD, file=p.file_id, max_size=len(data))
    async with aiohttp.ClientSession(headers=bearer(grant)) as session:
        url = await SeedClient(session, auth_server.url).upload(p, ext, size=len(data))
    assert url == f"{auth_server.url}/upload/{p.file_id}{ext}"
    return p.file_id


# ---------------------------------------------------------------------------------------------- 401 and 403

MD5 = "0123456789abcdef0123456789abcdef"
_FORM, _FORM_TYPE = form_body([("chunkId", MD5 + "0"), ("fileId", MD5), ("file", b"x")])
PROTECTED = [
    ("POST", "/api/upload/handshake", {"json": {"fileId": MD5, "ext": "", "chunkIds": [MD5 + "0"]}}),
    ("POST", "/api/upload", {"data": _FORM, "headers": {"Content-Type": _FORM_TYPE}}),
    ("GET", "/api/files", {}),
    ("POST", "/files/", {"headers": {"Tus-Resumable": "1.0.0", "Upload-Length": "5"}}),
    ("HEAD", "/files/some-upload", {"headers": {"Tus-Resumable": "1.0.0"}}),
    ("PATCH", "/files/some-upload", {"headers": {"Tus-Resumable": "1.0.0", "Upload-Offset": "0"}}),
    ("POST", "/files/", {"headers": {"Upload-Complete": "?1"}, "data": b"draft"}),  # the IETF draft
    ("GET", f"/upload/{MD5}.bin", {}),
    ("HEAD", f"/upload/{MD5}.bin", {}),
    ("GET", "/download/report.txt", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
async def test_no_token_is_401(
    client: aiohttp.ClientSession, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    status, headers, body = await answer(client, method, path, **kwargs)
    assert status == 401
    # RFC 6750 section 3: a request without a token gets the challenge without an error code.
    assert headers["WWW-Authenticate"] == NO_TOKEN
    if body is not None:
        assert body["error"] == "TOKEN_REQUIRED" and body["code"] == 401
    if "Tus-Resumable" in kwargs.get("headers", {}):
        assert headers["Tus-Resumable"] == "1.0.0"


@pytest.mark.parametrize(
    "path", ["/", "/healthz", "/metrics", "/api/openapi.json", "/embed.js", "/api/embed", "/static/page.css"]
)
async def test_the_page_and_the_server_s_own_routes_stay_open(
    client: aiohttp.ClientSession, path: str
) -> None:
    async with client.get(path) as resp:
        assert resp.status == 200, path


async def test_preflights_stay_unauthenticated(client: aiohttp.ClientSession) -> None:
    headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with client.options("/api/upload/handshake", headers=headers) as resp:
        assert resp.status == 204
        assert "authorization" in resp.headers["Access-Control-Allow-Headers"]


async def test_expired_forged_and_doubled_tokens(client: aiohttp.ClientSession) -> None:
    path = f"/upload/{MD5}.bin"
    expired = token(Scope.DOWNLOAD, file="*", now=time.time() - 3600, ttl=60)
    status, headers, body = await answer(client, "GET", path, headers=bearer(expired))
    assert (status, body["error"]) == (401, "TOKEN_EXPIRED")
    assert headers["WWW-Authenticate"].startswith(f'{NO_TOKEN}, error="invalid_token", error_description=')
    forged = mint(b"not-the-server-s-secret-32-bytes", Scope.DOWNLOAD, now=time.time(), ttl=60, file="*")
    status, _, body = await answer(client, "GET", path, headers=bearer(forged))
    assert (status, body["error"]) == (401, "TOKEN_INVALID")
    status, _, body = await answer(client, "GET", path, headers={"Authorization": "Bearer not a token"})
    assert (status, body["error"]) == (401, "TOKEN_INVALID")
    status, _, body = await answer(client, "GET", path, params={"token": "eyJhbGciOiJIUzI1NiJ9.é.AAAA"})
    assert (status, body["error"]) == (401, "TOKEN_INVALID")
    good = token(Scope.DOWNLOAD, file="*")
    status, headers, body = await answer(client, "GET", path, params={"token": good}, headers=bearer(good))
    assert (status, body["error"]) == (400, "BAD_REQUEST")  # RFC 6750 section 2: one method, not two
    assert 'error="invalid_request"' in headers["WWW-Authenticate"]


async def test_a_query_token_is_for_downloads_only(client: aiohttp.ClientSession) -> None:
    hs = {"fileId": MD5, "ext": "", "chunkIds": [MD5 + "0"]}
    status, _, body = await answer(
        client, "POST", "/api/upload/handshake", json=hs, params={"token": token(Scope.UPLOAD)}
    )
    assert (status, body["error"]) == (401, "TOKEN_REQUIRED")
    assert "downloads only" in body["msg"]


async def test_tokens_for_something_else_are_403(client: aiohttp.ClientSession) -> None:
    data = os.urandom(3 * KIB)
    p = plan(data)
    hs = {"fileId": p.file_id, "ext": ".bin", "chunkIds": p.chunk_ids, "size": len(data)}
    refusals = [
        (token(Scope.DOWNLOAD, file="*"), hs),  # another scope
        (token(Scope.UPLOAD, file=MD5), hs),  # another file
        (token(Scope.UPLOAD, max_size=len(data) - 1), hs),  # too large for the token
        (
            token(Scope.UPLOAD, max_size=len(data)),
            {k: v for k, v in hs.items() if k != "size"},
        ),  # size unsaid
    ]
    for grant, body_sent in refusals:
        status, headers, body = await answer(
            client, "POST", "/api/upload/handshake", json=body_sent, headers=bearer(grant)
        )
        assert (status, body["error"]) == (403, "TOKEN_FORBIDDEN"), body
        assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]


async def test_a_chunk_for_another_file_than_the_token_s_is_403(client: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": _FORM_TYPE, **bearer(token(Scope.UPLOAD, file="f" * 32))}
    status, _, body = await answer(client, "POST", "/api/upload", data=_FORM, headers=headers)
    assert (status, body["error"]) == (403, "TOKEN_FORBIDDEN") and MD5 in body["msg"]


# ---------------------------------------------------------------------------------------------- uploads and downloads


async def test_a_whole_upload_then_downloads_with_the_header_and_the_query(
    auth_server: ServerProcess, client: aiohttp.ClientSession
) -> None:
    data = os.urandom(2 * 1024 * KIB + 5)  # three chunks
    file_id = await stored(auth_server, data)
    path = f"/upload/{file_id}.bin"
    async with client.get(path, headers=bearer(token(Scope.DOWNLOAD, file=file_id))) as resp:
        assert resp.status == 200 and await resp.read() == data
        assert resp.headers["Cache-Control"] == "private"  # RFC 9111: no shared cache keeps it
    link = token(Scope.DOWNLOAD, file=file_id)
    async with client.get(
        path, params={"token": link, "name": "a.bin"}, headers={"Range": "bytes=5-9"}
    ) as resp:
        assert resp.status == 206 and await resp.read() == data[5:10]
    status, _, body = await answer(client, "GET", path, headers=bearer(token(Scope.DOWNLOAD, file=MD5)))
    assert (status, body["error"]) == (403, "TOKEN_FORBIDDEN")


async def test_the_downloads_folder(auth_server: ServerProcess, client: aiohttp.ClientSession) -> None:
    folder = auth_server.data_dir / "downloads"
    (folder / "report.txt").write_bytes(b"quarterly figures")
    one = bearer(token(Scope.DOWNLOAD, name="report.txt"))
    async with client.get("/download/report.txt", headers=one) as resp:
        assert resp.status == 200 and await resp.read() == b"quarterly figures"
    status, _, body = await answer(client, "GET", "/api/files", headers=one)
    assert (status, body["error"]) == (403, "TOKEN_FORBIDDEN")  # the listing shows every name
    status, _, body = await answer(
        client, "GET", "/api/files", headers=bearer(token(Scope.DOWNLOAD, name="*"))
    )
    assert status == 200 and "report.txt" in [f["name"] for f in body["data"]]


# ---------------------------------------------------------------------------------------------- instant uploads


async def test_an_instant_upload_needs_proof_of_the_bytes(
    auth_server: ServerProcess, client: aiohttp.ClientSession
) -> None:
    data = os.urandom(200 * KIB)
    file_id = await stored(auth_server, data)
    p = plan(data)
    hs = {"fileId": file_id, "ext": ".dat", "chunkIds": p.chunk_ids, "size": len(data)}
    someone = bearer(token(Scope.UPLOAD))  # may upload any file: knowing an MD5 must not be enough

    status, _, body = await answer(client, "POST", "/api/upload/handshake", json=hs, headers=someone)
    assert (status, body["error"]) == (428, "PROOF_REQUIRED")
    start, end, salt = body["data"]["start"], body["data"]["end"], body["data"]["salt"]
    assert end - start == 64 * KIB and 0 <= start and end <= len(data)
    again = await answer(client, "POST", "/api/upload/handshake", json=hs, headers=someone)
    assert again[2]["data"] == body["data"]  # the same token is asked the same question

    for wrong in (
        file_id * 2,
        proof_digest(salt, data[start + 1 : end + 1]),
        hashlib.sha256(data).hexdigest(),
    ):
        status, _, body = await answer(
            client, "POST", "/api/upload/handshake", json=hs | {"proof": wrong}, headers=someone
        )
        assert (status, body["error"]) == (403, "PROOF_MISMATCH")
    status, _, body = await answer(
        client, "POST", "/api/upload/handshake", json=hs | {"proof": "not hex"}, headers=someone
    )
    assert (status, body["error"]) == (400, "BAD_FIELD")

    proof = proof_digest(salt, data[start:end])
    status, _, body = await answer(
        client, "POST", "/api/upload/handshake", json=hs | {"proof": proof}, headers=someone
    )
    assert (status, body["data"]) == (200, f"{auth_server.url}/upload/{file_id}.dat")


async def test_a_small_file_is_proved_whole(
    auth_server: ServerProcess, client: aiohttp.ClientSession
) -> None:
    data = b"a short private note"
    file_id = await stored(auth_server, data, ".txt")
    hs = {"fileId": file_id, "ext": ".txt", "chunkIds": plan(data).chunk_ids, "size": len(data)}
    someone = bearer(token(Scope.UPLOAD))
    _, _, body = await answer(client, "POST", "/api/upload/handshake", json=hs, headers=someone)
    challenge = body["data"]
    assert (challenge["start"], challenge["end"]) == (0, len(data))
    status, _, body = await answer(  # its MD5 (the fileId) is no proof
        client,
        "POST",
        "/api/upload/handshake",
        json=hs | {"proof": hashlib.sha256(data).hexdigest()},
        headers=someone,
    )
    assert status == 403
    proof = proof_digest(challenge["salt"], data)
    status, _, body = await answer(
        client, "POST", "/api/upload/handshake", json=hs | {"proof": proof}, headers=someone
    )
    assert status == 200


async def test_the_open_mode_is_unchanged(shared_server: ServerProcess, http: aiohttp.ClientSession) -> None:
    data = os.urandom(10 * KIB)
    seed = SeedClient(http, shared_server.url)
    p = plan(data)
    url = await seed.upload(p)
    again = await seed.handshake(p)  # no token, no proof: the URL at once
    assert (again.status, again.data) == (200, url)
    assert await seed.published_md5(p) == p.file_id


# ---------------------------------------------------------------------------------------------- the embed


async def test_the_embed_s_token_option(auth_server: ServerProcess, client: aiohttp.ClientSession) -> None:
    good = token(Scope.UPLOAD)
    status, _, body = await answer(client, "GET", "/api/embed", params={"token": good})
    assert status == 200 and "token" not in body["data"]["options"]  # checked, not echoed
    expired = token(Scope.UPLOAD, now=time.time() - 3600, ttl=1)
    status, _, body = await answer(client, "GET", "/api/embed", params={"token": expired})
    assert (status, body["error"]) == (401, "TOKEN_EXPIRED")
    status, _, body = await answer(
        client, "GET", "/api/embed", params={"token": token(Scope.DOWNLOAD, file="*")}
    )
    assert (status, body["error"]) == (403, "TOKEN_FORBIDDEN")
    status, _, body = await answer(client, "GET", "/api/embed", params={"token": "two words"})
    assert (status, body["error"]) == (400, "BAD_EMBED_OPTION") and "two words" not in body["msg"]
    async with client.get("/embed", params={"token": good}) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert good in await resp.text()  # for the frame's engine (#embed-options)


# ---------------------------------------------------------------------------------------------- tus, with tuspy


def tus_upload(server: ServerProcess, path: Path, grant: str | None) -> Uploader:
    headers = bearer(grant) if grant is not None else {}
    client = tus_client.TusClient(f"{server.url}/files/", headers=headers)
    uploader = client.uploader(file_path=str(path), chunk_size=256 * KIB, metadata={"filename": "notes.txt"})
    uploader.upload()
    return uploader


async def test_tus_with_a_token(
    auth_server: ServerProcess, client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    md5 = write_random_file(path, 600 * KIB + 7, seed=17)
    with pytest.raises(TusCommunicationError) as refused:
        await asyncio.to_thread(tus_upload, auth_server, path, None)
    assert refused.value.status_code == 401
    too_small = token(Scope.UPLOAD, max_size=600 * KIB)
    with pytest.raises(TusCommunicationError) as refused:
        await asyncio.to_thread(tus_upload, auth_server, path, too_small)
    assert refused.value.status_code == 403
    uploader = await asyncio.to_thread(tus_upload, auth_server, path, token(Scope.UPLOAD, max_size=601 * KIB))
    assert uploader.offset == path.stat().st_size
    async with client.get(f"/upload/{md5}.txt", headers=bearer(token(Scope.DOWNLOAD, file=md5))) as resp:
        assert resp.status == 200 and hashlib.md5(await resp.read()).hexdigest() == md5


async def test_a_token_for_one_file_cannot_upload_with_tus(
    auth_server: ServerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    md5 = write_random_file(path, 10 * KIB, seed=18)
    with pytest.raises(TusCommunicationError) as refused:
        await asyncio.to_thread(tus_upload, auth_server, path, token(Scope.UPLOAD, file=md5))
    assert refused.value.status_code == 403
