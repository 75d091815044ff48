"""Downloads on the wire, as pure rules: the requests, and the header fields read from the RFCs' own examples
(RFC 9110 Content-Range, RFC 9530 digests, RFC 6266/8187 Content-Disposition)."""

from __future__ import annotations

import base64

import pytest

from frontend.engine import download_http as h
from frontend.engine.download_http import ContentRange, PartVerdict, Representation
from frontend.engine.download_plan import Segment
from frontend.engine.errors import EngineError, Err, ServerError


def test_the_probe_asks_for_one_byte() -> None:
    req = h.probe_request("http://x.test/download/a.bin", timeout=5)
    assert (req.method, req.url, dict(req.headers), req.timeout) == (
        "GET",
        "http://x.test/download/a.bin",
        {"range": "bytes=0-0"},
        5,
    )


def test_a_segment_asks_for_its_inclusive_range_if_the_etag_still_holds_with_its_digest() -> None:
    req = h.segment_request("http://x.test/f", Segment(2, 200, 300), '"e1"')
    assert dict(req.headers) == {
        "range": "bytes=200-299",  # RFC 9110 14.1.2: last-pos is inclusive
        "if-range": '"e1"',
        "want-content-digest": "sha-256=10",
    }
    plain = h.segment_request("http://x.test/f", Segment(0, 0, 10), "", want_digest=False)
    assert dict(plain.headers) == {"range": "bytes=0-9"}  # no strong ETag: no If-Range
    whole = h.segment_request("http://x.test/f", Segment(0, 0, 10), '"e"', ranged=False)
    assert dict(whole.headers) == {}


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        # RFC 9110 section 14.4's examples
        ("bytes 42-1233/1234", ContentRange(42, 1233, 1234)),
        ("bytes 42-1233/*", ContentRange(42, 1233, None)),
        ("bytes */1234", ContentRange(None, None, 1234)),
        ("bytes 0-0/1", ContentRange(0, 0, 1)),
        ("BYTES 0-9/10", ContentRange(0, 9, 10)),
        ("bytes 5-4/10", None),  # last before first
        ("bytes 0-10/10", None),  # past the end
        ("bytes 0-9", None),
        ("items 0-9/10", None),
        ("bytes */*", None),
        ("bytes -1-9/10", None),
        ("bytes ٠-9/10", None),  # Arabic-Indic digit zero: digits are ASCII
        (None, None),
    ],
)
def test_content_range(value: str | None, parsed: ContentRange | None) -> None:
    assert h.parse_content_range(value) == parsed


def test_digest_fields() -> None:
    # RFC 9530 section 2's example (Content-Digest of {"hello": "world"}) and appendix B's Repr-Digest.
    example = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert h.parse_digests(example) == {
        "sha-256": base64.b64decode("X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=")
    }
    two = (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, "
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    )
    assert set(h.parse_digests(two)) == {"sha-256", "sha-512"}
    assert h.parse_digests("sha-256=:not base64!:, md5=abc") == {}  # malformed members are left out
    assert h.parse_digests(None) == {}
    assert h.parse_digests("SHA-256=:AAAA:;p=1") == {"sha-256": b"\0\0\0"}


@pytest.mark.parametrize(
    ("value", "name"),
    [
        # RFC 6266 section 5's examples
        ("Attachment; filename=example.html", "example.html"),
        ('INLINE; FILENAME= "an example.html"', "an example.html"),
        ("attachment; filename*= UTF-8''%e2%82%ac%20rates", "€ rates"),
        ("attachment; filename=\"EURO rates\"; filename*=utf-8''%e2%82%ac%20rates", "€ rates"),
        # what our server sends for a Chinese name
        ("attachment; filename=\"_ 1.bin\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%201.bin", "报告 1.bin"),
        ('attachment; filename="a\\"b;c.txt"', 'a"b;c.txt'),
        ('attachment; filename="../../etc/passwd"', "passwd"),  # a path: its last segment only
        ("attachment", None),
        (None, None),
        ("attachment; filename*=ISO-8859-1''x.bin", None),  # only UTF-8 is decoded (RFC 8187 says MUST)
    ],
)
def test_file_names_from_content_disposition(value: str | None, name: str | None) -> None:
    assert h.filename_from_disposition(value) == name


def test_names_and_md5_from_urls() -> None:
    md5 = "0123456789abcdef0123456789abcdef"
    assert h.name_from_url(f"http://x.test/upload/{md5}.bin?name=%E6%8A%A5%E5%91%8A.bin") == "报告.bin"
    assert h.name_from_url("http://x.test/download/a%20b.txt") == "a b.txt"
    assert h.expected_md5(f"http://x.test/upload/{md5}.bin?name=a.bin") == md5
    assert h.expected_md5(f"http://x.test/upload/{md5.upper()}") == md5
    assert h.expected_md5("http://x.test/download/0123456789abcdef0123456789abcdef.bin") is None
    assert h.expected_md5("http://x.test/upload/xyz.bin") is None


def test_the_probes_answers() -> None:
    sha = b"\x01" * 32
    headers = {
        "content-range": "bytes 0-0/1234",
        "etag": '"abc"',
        "repr-digest": "sha-256=:" + base64.b64encode(sha).decode() + ":",
        "content-disposition": "attachment; filename=a.bin",
    }
    assert h.representation(206, headers) == Representation(1234, '"abc"', True, "a.bin", sha)
    # A server that ignores ranges answers 200 with the whole file: its length is the size.
    assert h.representation(200, {"content-length": "99", "etag": 'W/"weak"'}) == Representation(
        99, "", False
    )
    # An empty file has no byte 0.
    assert h.representation(416, {"content-range": "bytes */0"}) == Representation(0, "", True)
    assert h.representation(416, {"content-range": "bytes */5"}) is None
    assert h.representation(404, {}) is None
    with pytest.raises(EngineError) as caught:
        h.representation(206, {"content-range": "bytes 0-0/*"})
    assert caught.value.kind is Err.UNEXPECTED_ANSWER


def test_a_segments_answer() -> None:
    seg = Segment(1, 100, 200)
    ok = {"content-range": "bytes 100-199/1000", "etag": '"e"'}
    assert h.check_part(206, ok, seg, 1000, '"e"', True) is PartVerdict.OK
    # If-Range did not match: the whole new file came (RFC 9110 13.1.5) -> start over, never splice.
    assert h.check_part(200, {"content-length": "1000"}, seg, 1000, '"e"', True) is PartVerdict.CHANGED
    assert h.check_part(206, {**ok, "content-range": "bytes 100-199/999"}, seg, 1000, '"e"', True) is (
        PartVerdict.CHANGED
    )
    assert h.check_part(206, {**ok, "etag": '"other"'}, seg, 1000, '"e"', True) is PartVerdict.CHANGED
    assert h.check_part(416, {"content-range": "bytes */50"}, seg, 1000, '"e"', True) is PartVerdict.CHANGED
    assert h.check_part(503, {}, seg, 1000, '"e"', True) is None
    with pytest.raises(EngineError):
        h.check_part(206, {**ok, "content-range": "bytes 0-99/1000"}, seg, 1000, '"e"', True)
    # Without ranges: one 200 of the whole file, of the same version.
    whole = Segment(0, 0, 1000)
    assert h.check_part(200, {"content-length": "1000", "etag": '"e"'}, whole, 1000, '"e"', False) is (
        PartVerdict.OK
    )
    assert h.check_part(200, {"content-length": "10", "etag": '"e"'}, whole, 1000, '"e"', False) is (
        PartVerdict.CHANGED
    )


def test_error_answers_keep_the_servers_words() -> None:
    body = '{"code": 404, "msg": "no such file in the downloads folder", "data": null, "error": "NOT_FOUND"}'
    err = h.server_error(404, body)
    assert isinstance(err, ServerError)
    assert (err.status, err.msg, err.code) == (404, "no such file in the downloads folder", "NOT_FOUND")
    proxy = h.server_error(502, "<html>Bad Gateway</html>")
    assert (proxy.status, proxy.code) == (502, "HTTP_502")
