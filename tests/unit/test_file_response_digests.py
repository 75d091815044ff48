"""Digest fields (RFC 9530) in ``server.file_response``: what ``plan_response`` decides for ``Want-Content-Digest``
and ``Want-Repr-Digest``, then the bodies ``respond`` hashes, served by a real aiohttp server in this process
(local files through the zero-copy socket path, and a backend's stream), with the system calls counted."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils, web
from multidict import CIMultiDict

from server.file_response import (
    MAX_CONTENT_DIGEST_BYTES,
    LocalFile,
    Plan,
    Representation,
    StreamedFile,
    plan_response,
    respond,
)
from server.rfc.conditionals import EntityTag
from server.rfc.digests import EMPTY, SHA_256, SHA_512, parse_digests, serialize
from tests.support.http_ranges import noise, parse_byteranges

NOW = 1_800_000_000.0
DATA = noise(300_000, 9)
SHA = hashlib.sha256(DATA).digest()
BASE = Representation(len(DATA), EntityTag('"d"'), NOW - 3600, "application/octet-stream", "d.bin")
KNOWN = Representation(
    len(DATA), EntityTag('"d"'), NOW - 3600, "application/octet-stream", "d.bin", digests=((SHA_256, SHA),)
)


def plan(method: str = "GET", rep: Representation = KNOWN, **headers: str) -> Plan:
    fields = CIMultiDict((k.replace("_", "-"), v) for k, v in headers.items())
    return plan_response(method, fields, rep, now=NOW, boundary="BOUNDARY")


# -- the decision ----------------------------------------------------------------------------------------------


def test_repr_digest_on_every_200_and_206_once_known() -> None:
    value = serialize([(SHA_256, SHA)])
    for p in (
        plan(),
        plan(Range="bytes=0-9"),
        plan(Range="bytes=0-9,500-509"),
        plan("HEAD", Range="bytes=1-"),
    ):
        assert p.headers["Repr-Digest"] == value
        assert "Content-Digest" not in p.headers and p.digest is None
    for p in (plan(rep=BASE), plan(rep=BASE, Range="bytes=0-9")):
        assert "Repr-Digest" not in p.headers  # not computed yet: simply absent
    for p in (plan(If_None_Match='"d"'), plan(If_Match='"x"'), plan(Range="bytes=999999-")):
        assert p.status in (304, 412, 416) and "Repr-Digest" not in p.headers


def test_want_content_digest_on_a_range_plans_the_digest_of_that_range() -> None:
    p = plan(Range="bytes=100-199", Want_Content_Digest="sha-256=10")
    assert (p.status, p.digest, p.spans[0].start, p.spans[0].count) == (206, SHA_256, 100, 100)
    assert "Content-Digest" not in p.headers  # computed when the body is sent
    assert plan(Range="bytes=100-199", Want_Content_Digest="sha-512=3, sha-256=1").digest == SHA_512
    refused = plan(Range="bytes=100-199", Want_Content_Digest="sha-256=0, sha-512=0")  # "not acceptable"
    assert refused.digest is None and "Content-Digest" not in refused.headers
    # The rest of the answer is the same as without it.
    plain = plan(Range="bytes=100-199")
    assert (p.status, p.headers, p.spans) == (plain.status, plain.headers, plain.spans)


def test_want_content_digest_on_several_ranges_covers_the_whole_multipart_body() -> None:
    p = plan(Range="bytes=0-9,500-509", Want_Content_Digest="sha-256=1")
    assert p.status == 206 and p.headers["Content-Type"].startswith("multipart/byteranges")
    assert p.digest == SHA_256


def test_the_whole_file_answers_from_the_known_digest() -> None:
    # RFC 9530 Appendix B.1: a 200 carrying the whole representation has Content-Digest == Repr-Digest.
    for p in (plan(Want_Content_Digest="sha-256=1"), plan(Range="bytes=0-", Want_Content_Digest="sha-256=1")):
        assert p.digest is None and p.headers["Content-Digest"] == p.headers["Repr-Digest"]
    # Not known yet, or another algorithm: computed like a part.
    assert plan(rep=BASE, Want_Content_Digest="sha-256=1").digest == SHA_256
    assert plan(Want_Content_Digest="sha-512=1").digest == SHA_512


def test_head_gets_the_digest_of_empty_content() -> None:
    # RFC 9530 Appendix B.2: "The response Content-Digest field-value is computed on empty content."
    for value in (None, "bytes=0-9", "bytes=0-9,500-509"):
        ranged = {"Range": value} if value else {}
        head = plan("HEAD", Want_Content_Digest="sha-256=1", **ranged)
        get = plan("GET", Want_Content_Digest="sha-256=1", **ranged)
        assert head.digest is None
        assert head.headers["Content-Digest"] == serialize([(SHA_256, EMPTY[SHA_256])])
        assert {k: v for k, v in head.headers.items() if k != "Content-Digest"} == {
            k: v for k, v in get.headers.items() if k != "Content-Digest"
        }


def test_want_repr_digest_picks_among_the_known_digests() -> None:
    assert plan(Want_Repr_Digest="sha-256=1").headers["Repr-Digest"] == serialize([(SHA_256, SHA)])
    # Only sha-256 is kept: a client preferring sha-512 still gets it (RFC 9530 Appendix C.2) ...
    assert plan(Want_Repr_Digest="sha-512=10").headers["Repr-Digest"] == serialize([(SHA_256, SHA)])
    # ... but not one it calls "not acceptable".
    assert "Repr-Digest" not in plan(Want_Repr_Digest="sha-256=0, sha-512=10").headers
    assert "Repr-Digest" not in plan(rep=BASE, Want_Repr_Digest="sha-256=10").headers  # nothing computed


@pytest.mark.parametrize("value", ["", "sha-256=11", "sha-256", "sha-256=1.0", "SHA-256=1", "sha-256=1,"])
def test_bad_or_refusing_preferences_change_nothing(value: str) -> None:
    for ranged in ({}, {"Range": "bytes=5-9"}):
        p = plan(Want_Content_Digest=value, Want_Repr_Digest=value, **ranged)
        plain = plan(**ranged)
        assert (p.status, p.headers, p.spans, p.digest) == (plain.status, plain.headers, plain.spans, None)


def test_field_lines_are_combined() -> None:
    fields = CIMultiDict(
        [("Range", "bytes=0-9"), ("Want-Content-Digest", "sha-256=1"), ("Want-Content-Digest", "sha-512=9")]
    )
    assert plan_response("GET", fields, KNOWN, now=NOW, boundary="B").digest == SHA_512


def test_no_digest_is_computed_for_a_body_over_the_limit() -> None:
    big = Representation(MAX_CONTENT_DIGEST_BYTES + 2, EntityTag('"b"'), NOW - 3600, "text/plain", "b.txt")
    assert plan(rep=big, Range=f"bytes=1-{MAX_CONTENT_DIGEST_BYTES}", Want_Content_Digest="sha-256=1").digest
    p = plan(rep=big, Range="bytes=0-", Want_Content_Digest="sha-256=1")
    assert p.status == 206 and p.digest is None and "Content-Digest" not in p.headers


# -- the bytes: hashed, then sent --------------------------------------------------------------------------------


class Calls:
    """``os.sendfile`` and ``os.preadv`` calls made while serving (the server runs in this process)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sendfile = 0
        self.preadv = 0
        self.pread = 0
        for name in ("sendfile", "preadv", "pread"):
            monkeypatch.setattr(os, name, self._counting(name, getattr(os, name)))

    def _counting(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            setattr(self, name, getattr(self, name) + 1)
            return real(*args)

        return call

    def reset(self) -> None:
        self.sendfile = self.preadv = self.pread = 0


async def _read(start: int, count: int) -> AsyncIterator[bytes]:
    end = start + count
    while start < end:
        step = min(7777, end - start)
        yield DATA[start : start + step]
        start += step


def _app(path: Path) -> web.Application:
    async def local(request: web.Request) -> web.StreamResponse:
        return respond(request, BASE, LocalFile.open(path))

    async def streamed(request: web.Request) -> web.StreamResponse:
        return respond(request, BASE, StreamedFile(_read))

    app = web.Application()
    app.router.add_get("/local", local)
    app.router.add_get("/streamed", streamed)
    return app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, Callable[[str], str]]]:
    path = tmp_path / "d.bin"
    path.write_bytes(DATA)
    async with test_utils.TestServer(_app(path)) as server, aiohttp.ClientSession() as http:
        yield http, lambda route: str(server.make_url(route))


async def _get(
    http: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, dict[str, bytes] | None, bytes, str]:
    fields = {k.replace("_", "-"): v for k, v in headers.items()}
    async with http.get(url, headers=fields) as resp:
        body = await resp.read()
        return (
            resp.status,
            parse_digests(resp.headers.get("Content-Digest")),
            body,
            resp.headers["Content-Type"],
        )


@pytest.mark.parametrize("route", ["/local", "/streamed"])
async def test_content_digest_is_the_digest_of_the_body_received(
    served: tuple[aiohttp.ClientSession, Callable[[str], str]], route: str
) -> None:
    http, url = served
    status, digest, body, _ = await _get(
        http, url(route), Range="bytes=1000-99999", Want_Content_Digest="sha-256=1"
    )
    assert (status, body) == (206, DATA[1000:100000])
    assert digest == {SHA_256: hashlib.sha256(body).digest()}
    status, digest, body, _ = await _get(
        http, url(route), Range="bytes=-5000", Want_Content_Digest="sha-512=1"
    )
    assert digest == {SHA_512: hashlib.sha512(DATA[-5000:]).digest()}
    # Several ranges: the digest of the multipart body as received, framing included.
    status, digest, body, content_type = await _get(
        http, url(route), Range="bytes=0-9,200000-", Want_Content_Digest="sha-256=1"
    )
    assert [p.data for p in parse_byteranges(body, content_type)] == [DATA[:10], DATA[200000:]]
    assert digest == {SHA_256: hashlib.sha256(body).digest()}
    # The whole file, its digest not known to the handler: computed.
    status, digest, body, _ = await _get(http, url(route), Want_Content_Digest="sha-256=1")
    assert (status, digest) == (200, {SHA_256: SHA})
    # No Want: no Content-Digest.
    status, digest, body, _ = await _get(http, url(route), Range="bytes=0-9")
    assert (status, digest, body) == (206, None, DATA[:10])


async def test_the_plain_path_sends_with_sendfile_and_reads_nothing(
    served: tuple[aiohttp.ClientSession, Callable[[str], str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, url = served
    calls = Calls(monkeypatch)
    status, _, body, _ = await _get(http, url("/local"), Range="bytes=1000-99999")
    assert (status, body) == (206, DATA[1000:100000])
    assert calls.sendfile >= 1 and (calls.preadv, calls.pread) == (0, 0)  # zero-copy, nothing read
    calls.reset()
    # With Want-Content-Digest the range is read once to hash it, and still sent with sendfile.
    status, digest, body, _ = await _get(
        http, url("/local"), Range="bytes=1000-99999", Want_Content_Digest="sha-256=1"
    )
    assert digest == {SHA_256: hashlib.sha256(DATA[1000:100000]).digest()}
    assert calls.sendfile >= 1 and calls.preadv >= 1 and calls.pread == 0


async def test_a_file_that_shrank_before_it_was_hashed_drops_the_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.bin"
    path.write_bytes(DATA)

    async def handler(request: web.Request) -> web.StreamResponse:
        opened = LocalFile.open(path)
        os.truncate(path, 1000)  # after the validators were taken from the open file
        return respond(request, BASE, opened)

    app = web.Application()
    app.router.add_get("/f", handler)
    async with test_utils.TestServer(app) as server, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(
                server.make_url("/f"), headers={"Range": "bytes=0-99999", "Want-Content-Digest": "sha-256=1"}
            ) as resp:
                await resp.read()
