"""``multipart/byteranges`` framing (RFC 9110 section 14.6, RFC 2046 section 5.1.1), bytes exact.

The framing is computed up front, so the answer has an exact ``Content-Length`` before any byte is read::

    --BOUNDARY CRLF
    Content-Type: <type> CRLF
    Content-Range: bytes <first>-<last>/<length> CRLF
    CRLF
    <the bytes of range 1>
    CRLF --BOUNDARY CRLF
    ... one such head per further range ...
    CRLF --BOUNDARY-- CRLF
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.rfc.ranges import ByteRange

# RFC 2046 section 5.1.1: boundary := 0*69<bchars> bcharsnospace (1 to 70 characters).
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# RFC 9110 section 5.6.2: tchar; a parameter value that is not a token goes in a quoted-string (section
# 5.6.6).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Part:
    head: bytes  # the delimiter and the part's header fields, up to and including the empty line
    range: ByteRange


@dataclass(frozen=True)
class Multipart:
    content_type: str  # the value of the answer's Content-Type
    parts: tuple[Part, ...]
    tail: bytes  # the close-delimiter
    content_length: int


def frame(ranges: list[ByteRange], *, boundary: str, content_type: str, complete_length: int) -> Multipart:
    """The ``multipart/byteranges`` framing of ``ranges`` of a representation of ``complete_length`` bytes."""
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError(f"not a valid multipart boundary: {boundary!r}")
    if "\r" in content_type or "\n" in content_type:
        raise ValueError("a part's Content-Type cannot contain line breaks")
    parts = []
    for index, r in enumerate(ranges):
        # RFC 2046: "The boundary delimiter MUST occur at the beginning of a line, i.e., following a CRLF";
        # the CRLF before a delimiter "is conceptually attached to the boundary". The first delimiter starts
        # the body, so it needs none.
        head = (
            ("\r\n" if index else "")
            + f"--{boundary}\r\n"
            # RFC 9110 section 14.6: "each body part's header fields ... include a Content-Range field"; a
            # Content-Type in each part as well, as in the example of section 15.3.7.2.
            + f"Content-Type: {content_type}\r\n"
            + f"Content-Range: {r.content_range(complete_length)}\r\n"
            + "\r\n"
        )
        parts.append(Part(head.encode("latin-1"), r))
    tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(len(p.head) + p.range.length for p in parts) + len(tail)
    # RFC 9110 section 14.6: multipart/byteranges with "the required parameter 'boundary'".
    parameter = boundary if _TOKEN.fullmatch(boundary) else f'"{boundary}"'
    return Multipart(f"multipart/byteranges; boundary={parameter}", tuple(parts), tail, length)
