"""Downloads against the real server: ``/download/<name>``, ``/upload/<fileId><ext>`` and ``/api/files``.

Every RFC 9110 behaviour the issue lists, checked over HTTP: representation headers, HEAD, single and multiple
ranges (multipart parsed back byte-exact), abusive range sets, 416, If-Range / If-None-Match /
If-Modified-Since / If-Match / If-Unmodified-Since, a file replaced while it is downloaded, a file that
shrinks, and a corpus of names that try to escape the folder. Byte-serving tests run twice: with zero-copy
sendfile and with ``AIOHTTP_NOSENDFILE=1`` (the userspace path TLS would take).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from multidict import CIMultiDict
from yarl import URL

from server.rfc.dates import format_http_date
from tests.support.digests import await_repr_digest, wait_for_repr_digest
from tests.support.http_ranges import noise, offered_name, parse_byteranges, pattern, raw_request
from tests.support.seed_protocol import SeedClient, plan
from tests.support.server_process import ServerProcess

ON_EVERY_BACKEND = True  # the tests that start their server with `make_server` (tests/conftest.py)

SIZE = 64 * 1024
DATA = pattern(SIZE, b"data.bin")
CHINESE = "季度报告 (最终版).pdf"
OLD = time.time() - 3600  # an mtime well in the past: its Last-Modified is a strong validator
ETAG = re.compile(r'"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"')


def _populate(data_dir: Path) -> Path:
    folder = data_dir / "downloads"
    folder.mkdir(parents=True)
    (folder / "data.bin").write_bytes(DATA)
    (folder / "notes.txt").write_bytes(b"hello, range world\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / CHINESE).write_bytes(pattern(5000, b"chinese"))
    for name in os.listdir(folder):
        os.utime(folder / name, (OLD, OLD))
    return folder


def _start(data_dir: Path, env: dict[str, str] | None = None) -> ServerProcess:
    server = ServerProcess(data_dir, env=env)
    server.start()
    return server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("downloads") / "data"
    _populate(data_dir)
    server = _start(data_dir)
    _wait_for_digests(server)
    yield server
    server.stop()
    assert server.errors_logged() == []


@pytest.fixture(scope="module")
def nosendfile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("downloads-nosendfile") / "data"
    _populate(data_dir)
    server = _start(data_dir, env={"AIOHTTP_NOSENDFILE": "1"})
    _wait_for_digests(server)
    yield server
    server.stop()
    assert server.errors_logged() == []


@pytest.fixture(params=["sendfile", "nosendfile"])
def any_srv(request: pytest.FixtureRequest) -> ServerProcess:
    """Both ways of sending bytes: zero-copy sendfile and userspace reads."""
    return request.getfixturevalue("srv" if request.param == "sendfile" else "nosendfile")


def _wait_for_digests(server: ServerProcess) -> None:
    """The Repr-Digest of each file is computed in the background once the file is first asked for: wait for
    them all, so that answers compared with each other (a HEAD with its GET) see the same state."""
    for name in os.listdir(folder_of(server)):
        wait_for_repr_digest(str(url(server, name)))


def folder_of(server: ServerProcess) -> Path:
    return server.data_dir / "downloads"


def url(server: ServerProcess, name: str) -> URL:
    return URL(f"{server.url}/download/{quote(name, safe='')}", encoded=True)


async def fetch(
    http: aiohttp.ClientSession, target: URL | str, method: str = "GET", **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    async with http.request(method, target, headers=hdrs, auto_decompress=False) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


def without_date(headers: CIMultiDict[str]) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in headers.items() if k.lower() != "date"]


# -- whole files ---------------------------------------------------------------------------------------------


async def test_whole_file_and_its_headers(any_srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    status, headers, body = await fetch(http, url(any_srv, "data.bin"))
    assert status == 200 and body == DATA
    st = os.stat(folder_of(any_srv) / "data.bin")
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Length"] == str(SIZE)
    assert headers["Content-Type"] == "application/octet-stream"
    assert ETAG.fullmatch(headers["ETag"])  # strong: no W/
    assert headers["Last-Modified"] == format_http_date(st.st_mtime)
    assert headers["Content-Disposition"] == 'attachment; filename="data.bin"'
    status, headers, body = await fetch(http, url(any_srv, "notes.txt"))
    assert (status, body, headers["Content-Type"]) == (200, b"hello, range world\n", "text/plain")


async def test_unicode_name_is_offered_with_rfc_8187(srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    status, headers, body = await fetch(http, url(srv, CHINESE))
    assert status == 200 and body == pattern(5000, b"chinese")
    assert headers["Content-Type"] == "application/pdf"
    value = headers["Content-Disposition"]
    assert value.startswith('attachment; filename="') and value.isascii()
    assert "filename*=UTF-8''" in value
    assert offered_name(value) == CHINESE


async def test_empty_file(srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    status, headers, body = await fetch(http, url(srv, "empty.txt"))
    assert (status, headers["Content-Length"], body) == (200, "0", b"")
    status, headers, _ = await fetch(http, url(srv, "empty.txt"), Range="bytes=0-")
    assert (status, headers["Content-Range"]) == (416, "bytes */0")
    status, _, body = await fetch(http, url(srv, "empty.txt"), Range="bytes=-5")
    assert (status, body) == (200, b"")


# -- HEAD ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"If-None-Match": "*"},  # 304
        {"If-Match": '"nope"'},  # 412
        {"If-Modified-Since": "Sat, 29 Oct 1994 19:43:31 GMT"},  # 200
    ],
)
async def test_head_answers_what_get_would(
    srv: ServerProcess, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    for name in ("data.bin", CHINESE, "empty.txt"):
        get_status, get_headers, _ = await fetch(http, url(srv, name), **headers)
        head_status, head_headers, head_body = await fetch(http, url(srv, name), "HEAD", **headers)
        assert head_body == b""
        assert (head_status, without_date(head_headers)) == (get_status, without_date(get_headers))


async def test_head_with_range_answers_what_get_would(
    srv: ServerProcess, http: aiohttp.ClientSession
) -> None:
    # Section 9.3.2: "The server SHOULD send the same header fields in response to a HEAD request as it would
    # have sent if the request method had been GET" -- 206 and 416 included, without a body.
    for value in ("bytes=0-9", "bytes=0-0,-1", f"bytes={SIZE}-", "bytes=junk"):
        get_status, get_headers, _ = await fetch(http, url(srv, "data.bin"), Range=value)
        status, headers, body = await fetch(http, url(srv, "data.bin"), "HEAD", Range=value)
        assert body == b""
        assert (status, without_date(headers)) == (get_status, without_date(get_headers))


# -- single ranges -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=0-499", 0, 500),
        ("bytes=1000-", 1000, SIZE),
        ("bytes=-500", SIZE - 500, SIZE),
        ("bytes=-999999", 0, SIZE),  # suffix longer than the file: all of it
        (f"bytes=100-{SIZE * 10}", 100, SIZE),  # last-pos beyond the end: clipped
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE),
        ("bytes=0-", 0, SIZE),
        ("bytes=100-200,150-300", 100, 301),  # overlapping: coalesced into one
        (f"bytes={SIZE}-,10-19", 10, 20),  # the unsatisfiable member is dropped
    ],
)
async def test_single_range(
    any_srv: ServerProcess, http: aiohttp.ClientSession, value: str, start: int, stop: int
) -> None:
    status, headers, body = await fetch(http, url(any_srv, "data.bin"), Range=value)
    assert status == 206
    assert headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"
    assert headers["Content-Length"] == str(stop - start)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Accept-Ranges"] == "bytes" and ETAG.fullmatch(headers["ETag"])
    assert body == DATA[start:stop]


@pytest.mark.parametrize(
    "value",
    [
        "bytes=5-2",
        "bytes=abc",
        "bytes=1",
        "items=0-9",
        "bytes 0-9",
        "bytes=0-9;x",
        "",
        "bytes=-",
        "bytes=0-1,x-",
    ],
)
async def test_invalid_range_is_ignored(srv: ServerProcess, http: aiohttp.ClientSession, value: str) -> None:
    status, headers, body = await fetch(http, url(srv, "data.bin"), Range=value)
    assert (status, body) == (200, DATA) and "Content-Range" not in headers


async def test_two_range_fields_are_ignored(srv: ServerProcess) -> None:
    answer = await raw_request(
        srv.port, "/download/data.bin", headers={"Range": "bytes=0-1", "range": "bytes=2-3"}
    )
    assert (answer.status, answer.body) == (200, DATA)


@pytest.mark.parametrize(
    "value", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 10}", "bytes=-0", f"bytes={SIZE * 2}-,-0"]
)
async def test_unsatisfiable_range_is_416(
    any_srv: ServerProcess, http: aiohttp.ClientSession, value: str
) -> None:
    status, headers, body = await fetch(http, url(any_srv, "data.bin"), Range=value)
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{SIZE}"
    assert b"RANGE_NOT_SATISFIABLE" in body


# -- several ranges ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-0,-1", [(0, 1), (SIZE - 1, SIZE)]),  # RFC 9110 14.1.2: "The first and last bytes only"
        ("bytes=0-99,1000-1999,-100", [(0, 100), (1000, 2000), (SIZE - 100, SIZE)]),
        ("bytes=5000-5999,0-99", [(5000, 6000), (0, 100)]),  # the client's order is kept
        ("bytes=0-99, 50-149, 9000-9099", [(0, 150), (9000, 9100)]),  # overlapping pair coalesced
        (f"bytes=100-199,{SIZE}-,30000-30010", [(100, 200), (30000, 30011)]),  # unsatisfiable member dropped
    ],
)
async def test_multiple_ranges_are_multipart_byteranges(
    any_srv: ServerProcess, http: aiohttp.ClientSession, value: str, expected: list[tuple[int, int]]
) -> None:
    status, headers, body = await fetch(http, url(any_srv, "data.bin"), Range=value)
    assert status == 206
    assert headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert "Content-Range" not in headers
    assert headers["Content-Length"] == str(len(body))
    parts = parse_byteranges(body, headers["Content-Type"])
    assert [(p.range[0], p.range[1] + 1) for p in parts] == expected
    for part, (start, stop) in zip(parts, expected, strict=True):
        assert part.range[2] == SIZE
        assert part.headers["content-type"] == "application/octet-stream"
        assert part.data == DATA[start:stop]


@pytest.mark.parametrize(
    "value",
    [
        "bytes=" + ",".join(["0-"] * 200),  # the whole file 200 times
        "bytes=" + ",".join(["-" + str(SIZE)] * 90),  # the whole file 90 times, as suffixes
        "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 200, 2)),  # 100 tiny ranges, 1 byte apart
        "bytes=" + ",".join(f"{i}-{i + 10}" for i in range(0, SIZE, 700)),  # 94 small ranges, far apart
        "bytes=" + ",".join(f"{i}-" for i in range(0, SIZE, 1000)),  # 66 overlapping tails
        "bytes="
        + ",".join(f"{(i * 7919) % SIZE}-{(i * 7919) % SIZE}" for i in range(150)),  # too many, unordered
        "bytes=" + ",".join(f"{i}-{i + 1000}" for i in range(SIZE - 2000, 0, -600)),  # descending overlaps
    ],
)
async def test_abusive_range_sets_are_never_amplified(
    srv: ServerProcess, http: aiohttp.ClientSession, value: str
) -> None:
    status, headers, body = await fetch(http, url(srv, "data.bin"), Range=value)
    assert status in (200, 206)
    assert len(body) <= SIZE  # never more than the file itself
    if status == 200:
        assert body == DATA
    elif headers["Content-Type"].startswith("multipart/"):
        for part in parse_byteranges(body, headers["Content-Type"]):
            assert part.data == DATA[part.range[0] : part.range[1] + 1]
    else:
        first, last = map(int, re.fullmatch(rf"bytes (\d+)-(\d+)/{SIZE}", headers["Content-Range"]).groups())  # type: ignore[union-attr]
        assert body == DATA[first : last + 1]


# -- conditionals --------------------------------------------------------------------------------------------


async def test_if_range(any_srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    target = url(any_srv, "data.bin")
    _, headers, _ = await fetch(http, target)
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    # A matching strong ETag or date: the range.
    for validator in (etag, last_modified):
        status, _, body = await fetch(http, target, Range="bytes=10-19", If_Range=validator)
        assert (status, body) == (206, DATA[10:20]), validator
    # Anything else: the whole file with 200.
    for validator in ('"other"', "W/" + etag, "Sat, 29 Oct 1994 19:43:31 GMT", "garbage"):
        status, headers, body = await fetch(http, target, Range="bytes=10-19", If_Range=validator)
        assert (status, body) == (200, DATA), validator
        assert "Content-Range" not in headers
    # A failed If-Range beats an unsatisfiable Range: the client's copy is stale, so it gets the file.
    status, _, body = await fetch(http, target, Range=f"bytes={SIZE}-", If_Range='"other"')
    assert (status, body) == (200, DATA)


async def test_if_range_date_of_a_file_changed_within_the_second_does_not_match(
    srv: ServerProcess, http: aiohttp.ClientSession
) -> None:
    path = folder_of(srv) / "fresh.bin"
    path.write_bytes(DATA)  # modified just now: its Last-Modified is not (yet) a strong validator
    status, headers, _ = await fetch(http, url(srv, "fresh.bin"))
    status, _, body = await fetch(
        http, url(srv, "fresh.bin"), Range="bytes=0-9", If_Range=headers["Last-Modified"]
    )
    assert (status, body) == (200, DATA)
    status, _, body = await fetch(http, url(srv, "fresh.bin"), Range="bytes=0-9", If_Range=headers["ETag"])
    assert (status, body) == (206, DATA[:10])


async def test_not_modified(srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    target = url(srv, "data.bin")
    _, headers, _ = await fetch(http, target)
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    cases = [
        {"If-None-Match": etag},
        {"If-None-Match": f'"a", W/{etag}'},  # weak comparison
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
        {"If-Modified-Since": format_http_date(time.time())},
        {"If-None-Match": etag, "Range": "bytes=0-9"},  # 304 before any range
    ]
    for extra in cases:
        status, headers, body = await fetch(
            http, target, **{k.replace("-", "_"): v for k, v in extra.items()}
        )
        assert (status, body) == (304, b""), extra
        assert headers["ETag"] == etag and "Content-Length" not in headers
    # Not matching: the file.
    for extra in (
        {"If-None-Match": '"other"'},
        {"If-Modified-Since": "Sat, 29 Oct 1994 19:43:31 GMT"},
        {"If-Modified-Since": "not a date"},
        {"If-None-Match": '"other"', "If-Modified-Since": last_modified},  # If-None-Match wins
    ):
        status, _, body = await fetch(http, target, **{k.replace("-", "_"): v for k, v in extra.items()})
        assert (status, body) == (200, DATA), extra


async def test_precondition_failed(srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    target = url(srv, "data.bin")
    _, headers, _ = await fetch(http, target)
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    for extra in (
        {"If-Match": '"other"'},
        {"If-Match": "W/" + etag},  # strong comparison
        {"If-Unmodified-Since": "Sat, 29 Oct 1994 19:43:31 GMT"},
        {"If-Match": '"other"', "Range": "bytes=0-9"},
    ):
        status, _, body = await fetch(http, target, **{k.replace("-", "_"): v for k, v in extra.items()})
        assert status == 412, extra
        assert b"PRECONDITION_FAILED" in body
    for extra in (
        {"If-Match": etag},
        {"If-Match": "*"},
        {"If-Match": f'"a", {etag}'},
        {"If-Unmodified-Since": last_modified},
        {"If-Unmodified-Since": "garbage"},
        {"If-Match": etag, "If-Unmodified-Since": "Sat, 29 Oct 1994 19:43:31 GMT"},  # If-Match wins
    ):
        status, _, body = await fetch(http, target, **{k.replace("-", "_"): v for k, v in extra.items()})
        assert (status, body) == (200, DATA), extra
    status, _, body = await fetch(http, target, If_Match=etag, Range="bytes=0-9")
    assert (status, body) == (206, DATA[:10])


# -- a file that changes -------------------------------------------------------------------------------------


async def test_replaced_file_is_never_spliced(any_srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    """Replaced by a rename mid-download: the download goes on with the old bytes (the open descriptor), and a
    resume with If-Range and the old ETag gets the whole new file."""
    size = 24 * 1024 * 1024  # more than loopback socket buffers hold, so the rename lands mid-transfer
    old, new = noise(size, 1), noise(size, 2)
    path = folder_of(any_srv) / "changing.bin"
    path.write_bytes(old)
    os.utime(path, (OLD, OLD))
    async with http.get(url(any_srv, "changing.bin")) as resp:
        assert resp.status == 200
        etag = resp.headers["ETag"]
        first = await resp.content.readexactly(1024 * 1024)
        staged = path.with_name(".changing.tmp")
        staged.write_bytes(new)
        os.utime(staged, (OLD, OLD))  # even with the same size and mtime, the inode differs
        os.replace(staged, path)
        rest = await resp.read()
    assert first + rest == old
    status, headers, body = await fetch(
        http, url(any_srv, "changing.bin"), Range=f"bytes={len(first)}-", If_Range=etag
    )
    assert status == 200 and headers["ETag"] != etag
    assert body == new
    status, _, body = await fetch(
        http, url(any_srv, "changing.bin"), Range="bytes=5-9", If_Range=headers["ETag"]
    )
    assert (status, body) == (206, new[5:10])


async def test_file_that_shrinks_mid_download_drops_the_connection(
    any_srv: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """Truncated in place while being sent: the promised length cannot be met, so the client must see an
    incomplete transfer, never a short body that looks complete."""
    size = 24 * 1024 * 1024
    path = folder_of(any_srv) / "shrinking.bin"
    path.write_bytes(noise(size, 3))
    async with http.get(url(any_srv, "shrinking.bin")) as resp:
        assert resp.headers["Content-Length"] == str(size)
        await resp.content.readexactly(1024 * 1024)
        os.truncate(path, 2 * 1024 * 1024)
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    # The server carries on serving.
    status, _, body = await fetch(http, url(any_srv, "notes.txt"))
    assert (status, body) == (200, b"hello, range world\n")


async def test_client_that_leaves_mid_download_is_no_error(
    any_srv: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """A client closing the connection mid-body (a paused or cancelled download) costs the server nothing: no
    error logged (the module fixture checks the log), and the next clients are served."""
    size = 24 * 1024 * 1024
    path = folder_of(any_srv) / "left.bin"
    path.write_bytes(noise(size, 4))
    for request in (b"GET", b"GET-multipart"):
        reader, writer = await asyncio.open_connection("127.0.0.1", any_srv.port)
        extra = b"Range: bytes=0-99,1000000-\r\n" if request == b"GET-multipart" else b""
        writer.write(b"GET /download/left.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n")
        await writer.drain()
        got = 0
        while got < 2 * 1024 * 1024:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=30)
            assert chunk
            got += len(chunk)
        writer.transport.abort()  # gone, with a reset
    status, _, body = await fetch(http, url(any_srv, "left.bin"), Range="bytes=5-9")
    assert (status, body) == (206, noise(size, 4)[5:10])
    status, _, body = await fetch(http, url(any_srv, "notes.txt"))
    assert (status, body) == (200, b"hello, range world\n")


# -- names that try to escape --------------------------------------------------------------------------------

ESCAPES = [
    "/download/..",
    "/download/.",
    "/download/%2e%2e",
    "/download/%2E%2E",
    "/download/.%2e",
    "/download/..%2fsecret.txt",
    "/download/%2e%2e%2fsecret.txt",
    "/download/%2e%2e%2F%2e%2e%2F%2e%2e%2F%2e%2e%2F%2e%2e%2F%2e%2e%2Fetc%2Fpasswd",
    "/download/..%5csecret.txt",
    "/download/..%5c..%5csecret.txt",
    "/download/%5c..%5csecret.txt",
    "/download/%2fetc%2fpasswd",
    "/download/%2Fetc%2Fpasswd",
    "/download//etc/passwd",
    "/download/../secret.txt",
    "/download/../../../../etc/passwd",
    "/download/sub/inner.txt",
    "/download/sub%2finner.txt",
    "/download/sub%5cinner.txt",
    "/download/sub",
    "/download/notes.txt%00.png",
    "/download/notes.txt%00",
    "/download/%00",
    "/download/.hidden",
    "/download/%2ehidden",
    "/download/outside-link",
    "/download/dir-link",
    "/download/loop-link",
    "/download/fifo",
    "/download/%252e%252e%252fsecret.txt",
    "/download/%c0%ae%c0%ae%c0%afsecret.txt",
    "/download/..%c0%afsecret.txt",
    "/download/C:%5cWindows%5cwin.ini",
    "/download/file:%2f%2f%2fetc%2fpasswd",
    "/download/notes.txt%2f",
    "/download/notes.txt%2f.",
    "/download/notes.txt%0d%0aX-Injected:%20yes",
    "/download/%20notes.txt",
    "/download/",
    "/download/nonexistent.bin",
    "/download/" + "a" * 300,
    "/download/..%2f" + "meta.sqlite3",
    "/download/..%2f..%2fdata%2fmeta.sqlite3",
    "/upload/..%2fmeta.sqlite3",
    "/upload/%2e%2e%2fsecret.txt",
    "/upload/" + "0" * 32 + "%2f..%2f..%2fsecret.txt",
    "/upload/" + "0" * 32 + ".txt",
]


@pytest.fixture(scope="module")
def escape_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("escapes") / "data"
    folder = _populate(data_dir)
    (data_dir / "secret.txt").write_bytes(b"TOP SECRET")
    (data_dir.parent / "secret.txt").write_bytes(b"TOP SECRET")
    (folder / ".hidden").write_bytes(b"TOP SECRET")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.txt").write_bytes(b"TOP SECRET")
    (folder / "outside-link").symlink_to(data_dir / "secret.txt")
    (folder / "dir-link").symlink_to(data_dir)
    (folder / "loop-link").symlink_to(folder / "loop-link")
    (folder / "inside-link").symlink_to(folder / "notes.txt")
    os.mkfifo(folder / "fifo")
    server = _start(data_dir)
    yield server
    server.stop()


@pytest.mark.parametrize("target", ESCAPES)
async def test_no_name_escapes_the_folder(escape_server: ServerProcess, target: str) -> None:
    answer = await raw_request(escape_server.port, target)
    assert answer.status in (400, 404), (target, answer.status, answer.body[:200])
    assert b"TOP SECRET" not in answer.body and b"root:" not in answer.body and b"SQLite" not in answer.body
    assert "x-injected" not in answer.headers
    assert escape_server.errors_logged() == []


async def test_a_link_inside_the_folder_to_a_file_inside_is_served(escape_server: ServerProcess) -> None:
    answer = await raw_request(escape_server.port, "/download/inside-link")
    assert (answer.status, answer.body) == (200, b"hello, range world\n")


async def test_listing_shows_only_what_can_be_downloaded(
    escape_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{escape_server.url}/api/files") as resp:
        names = [f["name"] for f in (await resp.json())["data"]]
    assert names == sorted([CHINESE, "data.bin", "empty.txt", "inside-link", "notes.txt"])


# -- /api/files ----------------------------------------------------------------------------------------------


async def test_api_files_lists_the_folder(srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{srv.url}/api/files") as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert answer["code"] == 0 and answer["msg"] == ""
    files = {f["name"]: f for f in answer["data"]}
    entry = files[CHINESE]
    assert entry["size"] == 5000
    assert entry["url"] == f"{srv.url}/download/{quote(CHINESE, safe='')}"
    assert "%E5%AD%A3" in entry["url"] and " " not in entry["url"]
    # The listed validators are the ones the download answers with, and the URL works as given.
    status, headers, body = await fetch(http, URL(entry["url"], encoded=True))
    assert status == 200 and len(body) == 5000
    assert (headers["ETag"], headers["Last-Modified"]) == (entry["etag"], entry["lastModified"])
    assert offered_name(headers["Content-Disposition"]) == CHINESE
    assert files["data.bin"]["size"] == SIZE
    assert not any(name.startswith(".") for name in files)


async def test_downloads_folder_is_created_at_start(
    make_server: Callable[..., ServerProcess], tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    server = make_server("--downloads-dir", str(folder))
    assert folder.is_dir()
    async with http.get(f"{server.url}/api/files") as resp:
        assert (await resp.json())["data"] == []
    (folder / "x.txt").write_bytes(b"x")
    status, _, body = await fetch(http, f"{server.url}/download/x.txt")
    assert (status, body) == (200, b"x")


async def test_download_answers_carry_cors_headers(srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    status, headers, _ = await fetch(
        http, url(srv, "data.bin"), Origin="https://app.example", Range="bytes=0-0"
    )
    assert status == 206
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in headers["Access-Control-Expose-Headers"]


# -- uploaded files (on the local backend and, marked, on PostgreSQL + S3: ``ON_EVERY_BACKEND``) -------------


async def test_uploaded_file_is_served_like_a_download(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = pattern(300_000, b"upload")
    p = plan(data)
    client = SeedClient(http, server.url)
    await client.upload(p, ".txt", name="季度报告.txt")
    file_url = (await client.handshake(p, ".txt", name="季度报告.txt")).data  # the uploader's own link
    assert file_url.endswith("?name=%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.txt")
    target = URL(file_url, encoded=True)

    status, headers, body = await fetch(http, target)
    assert (status, body) == (200, data)
    assert headers["ETag"] == f'"{p.file_id}"'
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Length"] == str(len(data))
    assert offered_name(headers["Content-Disposition"]) == "季度报告.txt"
    last_modified = headers["Last-Modified"]

    status, headers, body = await fetch(http, target, Range="bytes=1000-1999", If_Range=f'"{p.file_id}"')
    assert (status, headers["Content-Range"], body) == (206, f"bytes 1000-1999/{len(data)}", data[1000:2000])
    status, _, body = await fetch(http, target, Range="bytes=1000-1999", If_Range='"0123"')
    assert (status, body) == (200, data)
    status, headers, body = await fetch(http, target, Range="bytes=0-9,-10")
    parts = parse_byteranges(body, headers["Content-Type"])
    assert [p_.data for p_ in parts] == [data[:10], data[-10:]]
    status, _, _ = await fetch(http, target, If_None_Match=f'"{p.file_id}"')
    assert status == 304
    status, _, _ = await fetch(http, target, If_Modified_Since=last_modified)
    assert status == 304
    status, headers, _ = await fetch(http, target, Range=f"bytes={len(data)}-")
    assert (status, headers["Content-Range"]) == (416, f"bytes */{len(data)}")
    await await_repr_digest(http, target)  # (computed in the background: GET and HEAD then agree on it)
    _, get_headers, _ = await fetch(http, target)
    head_status, head_headers, head_body = await fetch(http, target, "HEAD")
    assert (head_status, head_body, without_date(head_headers)) == (200, b"", without_date(get_headers))


async def test_each_uploaders_link_keeps_its_own_name_whatever_others_send(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """A stranger who knows the file's MD5 handshakes first with another name: the victim's link still
    downloads under the victim's name, and a link without a name under the file's id."""
    p = plan(pattern(2000, b"report"))
    client = SeedClient(http, server.url)
    stranger = (await client.handshake(p, ".pdf", name="malware.exe")).data
    assert isinstance(stranger, list)  # nothing stored yet: the stranger cannot send the bytes
    await client.upload(p, ".pdf", name="report.pdf")
    victim = (await client.handshake(p, ".pdf", name="report.pdf")).data
    for link, offered in (
        (victim, "report.pdf"),
        (f"{server.url}/upload/{p.file_id}.pdf", f"{p.file_id}.pdf"),
    ):
        _, headers, body = await fetch(http, URL(link, encoded=True))
        assert body == pattern(2000, b"report") and offered_name(headers["Content-Disposition"]) == offered
    status, _, _ = await fetch(http, URL(f"{server.url}/upload/{p.file_id}.pdf?name=a/b", encoded=True))
    assert status == 400  # the same rules as the handshake's name


async def test_uploaded_file_without_a_name_is_offered_as_its_url(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    p = plan(pattern(1000, b"nameless"))
    file_url = await SeedClient(http, server.url).upload(p, ".bin")
    _, headers, _ = await fetch(http, URL(file_url, encoded=True))
    assert headers["Content-Disposition"] == f'attachment; filename="{p.file_id}.bin"'


async def test_concurrent_downloads(srv: ServerProcess, http: aiohttp.ClientSession) -> None:
    ranges = [(i * 1000, i * 1000 + 4999) for i in range(40)]

    async def one(first: int, last: int) -> bytes:
        _, _, body = await fetch(http, url(srv, "data.bin"), Range=f"bytes={first}-{last}")
        return body

    bodies = await asyncio.gather(*(one(a, b) for a, b in ranges))
    assert all(body == DATA[a : b + 1] for body, (a, b) in zip(bodies, ranges, strict=True))
