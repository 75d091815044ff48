"""Digest fields (RFC 9530) against the real server: ``Repr-Digest`` on every file served (downloads folder and
uploaded files), computed once in the background, kept across a restart, renewed when a file changes;
``Want-Content-Digest`` answered with the digest of the part sent; bad ``Want-*`` values ignored; and the
plain path still sent with ``sendfile`` (the server's system calls traced with strace, where it can attach)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from multidict import CIMultiDict

from server.rfc.digests import EMPTY, SHA_256, SHA_512, parse_digests
from tests.support.digests import await_repr_digest
from tests.support.http_ranges import noise, parse_byteranges, raw_request
from tests.support.seed_protocol import SeedClient, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

DATA = noise(2 * 1024 * 1024 + 123, 21)
OLD = time.time() - 3600


def sha256(data: bytes) -> dict[str, bytes]:
    return {SHA_256: hashlib.sha256(data).digest()}


def _computed(server: ServerProcess, subject: str) -> int:
    """How many times the server logged that it computed (and stored) the Repr-Digest of ``subject``."""
    return sum(f"computed and stored the Repr-Digest of {subject} " in line for line in server.log)


def _wait_computed(server: ServerProcess, subject: str, times: int = 1) -> None:
    wait_until(lambda: _computed(server, subject) >= times, what=f"the Repr-Digest of {subject} computed")


@pytest.fixture
def folder_server(make_server: Callable[..., ServerProcess], tmp_path: Path) -> ServerProcess:
    data_dir = tmp_path / "data"
    (data_dir / "downloads").mkdir(parents=True)
    path = data_dir / "downloads" / "a.bin"
    path.write_bytes(DATA)
    os.utime(path, (OLD, OLD))
    return make_server(data_dir=data_dir)


def url(server: ServerProcess, name: str = "a.bin") -> str:
    return f"{server.url}/download/{quote(name, safe='')}"


async def fetch(
    http: aiohttp.ClientSession, target: str, method: str = "GET", **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    fields = {k.replace("_", "-"): v for k, v in headers.items()}
    async with http.request(method, target, headers=fields) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


# -- Repr-Digest -----------------------------------------------------------------------------------------------


async def test_repr_digest_of_a_downloads_folder_file(
    folder_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await fetch(http, url(folder_server))
    assert (status, body) == (200, DATA)
    assert parse_digests(headers.get("Repr-Digest")) in (None, sha256(DATA))  # absent until computed
    assert await await_repr_digest(http, url(folder_server)) == sha256(DATA)
    # The whole representation's digest, on every answer of this version: a range, several, a HEAD.
    for ranged in ("bytes=0-0", "bytes=10-19,-10"):
        status, headers, _ = await fetch(http, url(folder_server), Range=ranged)
        assert status == 206 and parse_digests(headers["Repr-Digest"]) == sha256(DATA)
    _, get_headers, _ = await fetch(http, url(folder_server))
    status, head_headers, body = await fetch(http, url(folder_server), "HEAD")
    assert (status, body, head_headers["Repr-Digest"]) == (200, b"", get_headers["Repr-Digest"])
    assert _computed(folder_server, "download/a.bin") == 1
    assert folder_server.errors_logged() == []


async def test_repr_digest_of_an_uploaded_file(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    data = noise(1_500_000, 22)
    p = plan(data)
    file_url = await SeedClient(http, server.url).upload(p, ".bin", name="report.bin")
    assert await await_repr_digest(http, file_url) == sha256(data)
    # The same file, its link without a name: the same digest, computed once.
    assert await await_repr_digest(http, f"{server.url}/upload/{p.file_id}.bin") == sha256(data)
    assert _computed(server, f"upload/{p.file_id}") == 1


async def test_repr_digest_is_kept_across_a_restart(
    folder_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = noise(700_000, 23)
    p = plan(data)
    file_url = await SeedClient(http, folder_server.url).upload(p, ".bin")
    await await_repr_digest(http, url(folder_server))
    await await_repr_digest(http, file_url)
    _wait_computed(folder_server, "download/a.bin")
    _wait_computed(folder_server, f"upload/{p.file_id}")

    folder_server.restart()  # kill -9, then the same data dir
    # The very first answers after the restart carry them: read at start-up, not computed again.
    _, headers, _ = await fetch(http, url(folder_server), "HEAD")
    assert parse_digests(headers.get("Repr-Digest")) == sha256(DATA)
    _, headers, _ = await fetch(http, file_url, Range="bytes=5-9")
    assert parse_digests(headers.get("Repr-Digest")) == sha256(data)
    assert any("2 Repr-Digest(s) read from" in line for line in folder_server.log)
    assert _computed(folder_server, "download/a.bin") == 1
    assert _computed(folder_server, f"upload/{p.file_id}") == 1


async def test_repr_digest_changes_with_the_file(
    folder_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    path = folder_server.data_dir / "downloads" / "a.bin"
    assert await await_repr_digest(http, url(folder_server)) == sha256(DATA)
    _wait_computed(folder_server, "download/a.bin")
    new = noise(len(DATA), 24)  # same size
    staged = path.with_name(".a.tmp")
    staged.write_bytes(new)
    os.utime(staged, (OLD, OLD))  # same modification time: only the inode tells the versions apart
    os.replace(staged, path)
    # Never the old digest with the new ETag: absent until the new one is computed, then the new one.
    status, headers, body = await fetch(http, url(folder_server))
    assert (status, body) == (200, new)
    assert parse_digests(headers.get("Repr-Digest")) in (None, sha256(new))
    assert await await_repr_digest(http, url(folder_server)) == sha256(new)
    _wait_computed(folder_server, "download/a.bin", 2)
    # Changed in place (size and modification time): the same again.
    path.write_bytes(new + b"tail")
    assert await await_repr_digest(http, url(folder_server)) == sha256(new + b"tail")
    folder_server.restart()
    _, headers, _ = await fetch(http, url(folder_server), "HEAD")
    assert parse_digests(headers.get("Repr-Digest")) == sha256(new + b"tail")


# -- Want-Content-Digest -----------------------------------------------------------------------------------------


async def test_want_content_digest_on_ranges(
    folder_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    status, headers, body = await fetch(
        http, url(folder_server), Range="bytes=1000000-1999999", Want_Content_Digest="sha-256=10"
    )
    assert (status, body) == (206, DATA[1000000:2000000])
    assert parse_digests(headers["Content-Digest"]) == sha256(body)
    status, headers, body = await fetch(
        http, url(folder_server), Range="bytes=-1000", Want_Content_Digest="sha-512=10, sha-256=1"
    )
    assert parse_digests(headers["Content-Digest"]) == {SHA_512: hashlib.sha512(DATA[-1000:]).digest()}
    # Several ranges: the digest of the multipart/byteranges body as sent.
    status, headers, body = await fetch(
        http, url(folder_server), Range="bytes=0-99,5000-5099", Want_Content_Digest="sha-256=1"
    )
    assert [part.data for part in parse_byteranges(body, headers["Content-Type"])] == [
        DATA[:100],
        DATA[5000:5100],
    ]
    assert parse_digests(headers["Content-Digest"]) == sha256(body)
    # The whole file, once its Repr-Digest is known: the same value.
    await await_repr_digest(http, url(folder_server))
    status, headers, body = await fetch(http, url(folder_server), Want_Content_Digest="sha-256=1")
    assert status == 200 and headers["Content-Digest"] == headers["Repr-Digest"]
    assert parse_digests(headers["Content-Digest"]) == sha256(body)
    # A HEAD carries no content: RFC 9530 Appendix B.2, the digest of empty content.
    status, headers, body = await fetch(
        http, url(folder_server), "HEAD", Range="bytes=0-9", Want_Content_Digest="sha-256=1"
    )
    assert (status, body, parse_digests(headers["Content-Digest"])) == (206, b"", {SHA_256: EMPTY[SHA_256]})


async def test_want_content_digest_on_an_uploaded_file(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = noise(1_200_000, 25)
    file_url = await SeedClient(http, server.url).upload(plan(data), ".bin")
    for first, last in ((0, 1048575), (1048576, len(data) - 1)):  # the segments a client would fetch
        status, headers, body = await fetch(
            http,
            file_url,
            Range=f"bytes={first}-{last}",
            If_Range=f'"{hashlib.md5(data).hexdigest()}"',
            Want_Content_Digest="sha-256=1",
        )
        assert (status, body) == (206, data[first : last + 1])
        assert parse_digests(headers["Content-Digest"]) == sha256(body)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha-256=11",
        "sha-256",
        "sha-256=1.5",
        "sha-256=0",  # sha-256 refused ... and sha-512 not named: sha-512 then
        "sha-256=0, sha-512=0",
        "SHA-256=1",
        "sha-256=(1 2)",
        "sha-256=1,,",
        "md5=10",  # not ours: sha-256 then
        "\u00ff\u00fe",
        "x" * 5000,
    ],
)
async def test_bad_want_values_are_ignored_never_an_error(folder_server: ServerProcess, value: str) -> None:
    for name in ("Want-Content-Digest", "Want-Repr-Digest"):
        answer = await raw_request(
            folder_server.port, "/download/a.bin", headers={"Range": "bytes=0-99", name: value}
        )
        assert answer.status == 206 and answer.body == DATA[:100]
        digest = parse_digests(answer.headers.get("content-digest"))
        if name == "Want-Content-Digest" and value == "sha-256=0":
            assert digest == {SHA_512: hashlib.sha512(DATA[:100]).digest()}
        elif name == "Want-Content-Digest" and value == "md5=10":
            assert digest == sha256(DATA[:100])
        else:
            assert digest is None
    assert folder_server.errors_logged() == []


# -- the plain path: still zero-copy ---------------------------------------------------------------------------


@contextmanager
def traced(pid: int, out: Path) -> Iterator[Callable[[], str]]:
    """The server's file reads and sendfile calls, traced while the block runs (every thread)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    proc = subprocess.Popen(
        ["strace", "-f", "-e", "trace=sendfile,pread64,preadv,preadv2", "-o", str(out), "-p", str(pid)],
        stderr=subprocess.PIPE,
        text=True,
    )
    attached = threading.Event()
    said: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            said.append(line)
            if "attached" in line:
                attached.set()
        attached.set()

    threading.Thread(target=pump, daemon=True).start()
    attached.wait(10)
    if proc.poll() is not None or not any("attached" in line for line in said):
        proc.kill()
        pytest.skip(f"strace cannot attach here: {''.join(said)[-300:]}")
    try:
        yield lambda: out.read_text()
    finally:
        proc.send_signal(signal.SIGINT)  # detaches
        proc.wait(10)


async def test_the_plain_path_still_uses_sendfile(
    folder_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await await_repr_digest(http, url(folder_server))
    _wait_computed(folder_server, "download/a.bin")  # the background thread is idle again
    plain, wanted = tmp_path / "plain.strace", tmp_path / "wanted.strace"
    with traced(folder_server.pid, plain):
        status, headers, body = await fetch(http, url(folder_server), Range="bytes=100000-1999999")
        assert status == 206 and body == DATA[100000:2000000] and "Content-Digest" not in headers
    with traced(folder_server.pid, wanted):
        status, headers, body = await fetch(
            http, url(folder_server), Range="bytes=100000-1999999", Want_Content_Digest="sha-256=1"
        )
        assert parse_digests(headers["Content-Digest"]) == sha256(body)
    plain_calls, wanted_calls = plain.read_text(), wanted.read_text()
    # Plain: zero-copy only, not a byte read into the process.
    assert "sendfile(" in plain_calls and "pread" not in plain_calls, plain_calls
    # Want-Content-Digest: the range read once to hash it, then sent zero-copy all the same.
    assert "sendfile(" in wanted_calls and "preadv" in wanted_calls, wanted_calls
