"""``server.file_response.plan_response``: the whole decision for one file, without a server."""

from __future__ import annotations

import random

import pytest
from multidict import CIMultiDict

from server.file_response import Plan, Representation, content_type_for, plan_response
from server.rfc.conditionals import EntityTag
from server.rfc.dates import format_http_date

NOW = 1_800_000_000.0
REP = Representation(
    size=100_000,
    etag=EntityTag('"abc"'),
    last_modified=NOW - 3600,
    content_type="application/pdf",
    filename="a.pdf",
)


def plan(method: str = "GET", rep: Representation = REP, **headers: str) -> Plan:
    fields = CIMultiDict((k.replace("_", "-"), v) for k, v in headers.items())
    return plan_response(method, fields, rep, now=NOW, boundary="BOUNDARY")


def test_plain_get() -> None:
    p = plan()
    assert p.status == 200 and p.body_length == REP.size
    assert p.headers["Content-Length"] == "100000" and p.headers["Accept-Ranges"] == "bytes"
    assert p.headers["Last-Modified"] == format_http_date(NOW - 3600)


def test_multipart_plan_length_is_exact() -> None:
    p = plan(Range="bytes=0-9,50000-50009")
    assert p.status == 206 and p.headers["Content-Type"] == "multipart/byteranges; boundary=BOUNDARY"
    assert int(p.headers["Content-Length"]) == p.body_length


def test_head_plans_what_get_would() -> None:
    for value in ("bytes=0-9", "bytes=0-0,-1", "bytes=200000-"):
        head, get = plan("HEAD", Range=value), plan("GET", Range=value)
        assert (head.status, head.headers) == (get.status, get.headers)


def test_304_and_412_and_416() -> None:
    p = plan(If_None_Match='"abc"')
    assert (p.status, p.spans, p.headers) == (304, (), {"ETag": '"abc"'})
    assert plan(If_Match='"zzz"').status == 412
    p = plan(Range="bytes=100000-")
    assert (p.status, p.headers["Content-Range"]) == (416, "bytes */100000")


def test_last_modified_in_the_future_is_now() -> None:
    future = Representation(10, EntityTag('"f"'), NOW + 86400, "text/plain", "f.txt")
    assert plan(rep=future).headers["Last-Modified"] == format_http_date(NOW)


def test_multipart_framing_as_large_as_the_file_is_sent_as_the_file() -> None:
    four_bytes = "bytes=0-0,100-100,200-200,299-299"  # four parts of ~75 bytes of framing each
    small = Representation(300, EntityTag('"s"'), NOW - 3600, "text/plain", "s.txt")
    p = plan(rep=small, Range=four_bytes)
    assert p.status == 200 and p.body_length == small.size
    large = Representation(10_000, EntityTag('"l"'), NOW - 3600, "text/plain", "l.txt")
    p = plan(rep=large, Range=four_bytes)
    assert p.status == 206 and len(p.spans) == 4 and p.body_length < 400


@pytest.mark.parametrize("seed", range(8))
def test_no_range_header_ever_gets_more_than_the_file(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([0, 1, 2, 80, 81, 500, 10_000, 100_000])
    rep = Representation(size, EntityTag('"r"'), NOW - 3600, "application/octet-stream", "r.bin")
    for _ in range(50):
        specs = []
        for _ in range(rng.randint(1, 120)):
            kind = rng.random()
            a, b = rng.randint(0, size + 10), rng.randint(0, size + 10)
            specs.append(f"{min(a, b)}-{max(a, b)}" if kind < 0.5 else f"{a}-" if kind < 0.8 else f"-{b}")
        p = plan(rep=rep, Range="bytes=" + ",".join(specs))
        assert p.status in (200, 206, 416)
        if p.status != 416:
            assert p.body_length <= size
            assert int(p.headers["Content-Length"]) == p.body_length


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.pdf", "application/pdf"),
        ("a.tar.gz", "application/gzip"),  # served as is, no Content-Encoding
        ("A.TXT", "text/plain"),
        ("noext", "application/octet-stream"),
        ("data:text/html,x.bin", "application/octet-stream"),
        ("报告.mp4", "video/mp4"),
    ],
)
def test_content_type_from_the_extension(name: str, expected: str) -> None:
    assert content_type_for(name) == expected
