"""``server.rfc.multipart``: the framing of RFC 9110 section 15.3.7.2's own example, byte for byte."""

from __future__ import annotations

import pytest

from server.rfc.multipart import frame
from server.rfc.ranges import ByteRange
from tests.support.http_ranges import parse_byteranges


def test_rfc_9110_example_framing() -> None:
    # Section 15.3.7.2: an 8000-byte application/pdf, ranges 500-999 and 7000-7999, boundary
    # THIS_STRING_SEPARATES.
    first, second = b"a" * 500, b"b" * 1000
    framing = frame(
        [ByteRange(500, 1000), ByteRange(7000, 8000)],
        boundary="THIS_STRING_SEPARATES",
        content_type="application/pdf",
        complete_length=8000,
    )
    assert framing.content_type == "multipart/byteranges; boundary=THIS_STRING_SEPARATES"
    body = framing.parts[0].head + first + framing.parts[1].head + second + framing.tail
    assert body == (
        b"--THIS_STRING_SEPARATES\r\n"
        b"Content-Type: application/pdf\r\n"
        b"Content-Range: bytes 500-999/8000\r\n"
        b"\r\n" + first + b"\r\n"
        b"--THIS_STRING_SEPARATES\r\n"
        b"Content-Type: application/pdf\r\n"
        b"Content-Range: bytes 7000-7999/8000\r\n"
        b"\r\n" + second + b"\r\n"
        b"--THIS_STRING_SEPARATES--\r\n"
    )
    assert framing.content_length == len(body)  # known before any byte is read
    parts = parse_byteranges(body, framing.content_type)
    assert [(p.range, p.data) for p in parts] == [((500, 999, 8000), first), ((7000, 7999, 8000), second)]
    assert all(p.headers["content-type"] == "application/pdf" for p in parts)


def test_a_boundary_that_is_not_a_token_is_quoted() -> None:
    framing = frame(
        [ByteRange(0, 1), ByteRange(5, 6)], boundary="a b:c", content_type="text/plain", complete_length=9
    )
    assert framing.content_type == 'multipart/byteranges; boundary="a b:c"'


@pytest.mark.parametrize("boundary", ["", "x" * 71, "ends with space ", "new\r\nline", "ünicode"])
def test_invalid_boundaries_are_refused(boundary: str) -> None:
    with pytest.raises(ValueError):
        frame([ByteRange(0, 1)], boundary=boundary, content_type="text/plain", complete_length=1)
