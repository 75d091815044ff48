"""Test helpers for downloads: reading answers back the way a strict client would.

- ``parse_content_disposition``: the file name a RFC 6266 / RFC 8187 user agent would pick;
- ``parse_byteranges``: split a ``multipart/byteranges`` body into its parts, checking the CRLF framing;
- ``raw_request``: one HTTP/1.1 request with the request-target sent byte for byte (no client-side
  normalisation of ``..`` or percent-encoding), over a plain socket;
- ``pattern``: deterministic, non-repeating test bytes of any size.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

# -- Content-Disposition -------------------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"\s*;\s*({_TOKEN})\s*=\s*({_TOKEN}|{_QUOTED})")
_EXT_VALUE = re.compile(
    r"([A-Za-z0-9!#$%&+\-^_`{}~]+)'([A-Za-z0-9\-]*)'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+\-.^_`|~])*)"
)


def decode_ext_value(value: str) -> str:
    """RFC 8187 section 3.2: ``charset "'" [ language ] "'" value-chars``, percent-decoded in that charset."""
    match = _EXT_VALUE.fullmatch(value)
    if match is None:
        raise ValueError(f"not an RFC 8187 ext-value: {value!r}")
    return unquote_to_bytes(match[3]).decode(match[1])


def parse_content_disposition(value: str) -> tuple[str, dict[str, str]]:
    """(disposition type, parameters) of a Content-Disposition value; names lower-cased, values decoded."""
    disposition, _, rest = value.partition(";")
    params: dict[str, str] = {}
    rest = ";" + rest if rest else ""
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None:
            raise ValueError(f"bad Content-Disposition parameters: {rest[pos:]!r}")
        name, raw = match[1].lower(), match[2]
        if name.endswith("*"):
            params[name] = decode_ext_value(raw)
        elif raw.startswith('"'):
            params[name] = re.sub(r"\\(.)", r"\1", raw[1:-1])
        else:
            params[name] = raw
        pos = match.end()
    return disposition.strip().lower(), params


def offered_name(value: str) -> str:
    """The name a user agent saves the file as: ``filename*`` if present, else ``filename`` (RFC 6266 4.3)."""
    _, params = parse_content_disposition(value)
    return params.get("filename*", params.get("filename", ""))


# -- multipart/byteranges ------------------------------------------------------------------------------------


@dataclass
class BodyPart:
    headers: dict[str, str]  # names lower-cased
    data: bytes

    @property
    def range(self) -> tuple[int, int, int]:
        """(first, last, complete length) from the part's Content-Range."""
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", self.headers["content-range"])
        assert match, self.headers
        return int(match[1]), int(match[2]), int(match[3])


def boundary_of(content_type: str) -> str:
    match = re.fullmatch(r'multipart/byteranges;\s*boundary=(?:"([^"]+)"|(\S+))', content_type)
    assert match, content_type
    return match[1] or match[2]


def parse_byteranges(body: bytes, content_type: str) -> list[BodyPart]:
    """The parts of a multipart/byteranges body; asserts the framing is exactly CRLF-delimited (RFC 2046)."""
    delimiter = b"--" + boundary_of(content_type).encode()
    assert body.startswith(delimiter + b"\r\n"), body[:100]
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n"), body[-100:]
    inner = body[len(delimiter) + 2 : -(len(delimiter) + 6)]
    parts = []
    for chunk in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, sep, data = chunk.partition(b"\r\n\r\n")
        assert sep, chunk[:200]
        headers = {}
        for line in head.split(b"\r\n"):
            name, colon, value = line.decode("latin-1").partition(":")
            assert colon, line
            headers[name.strip().lower()] = value.strip()
        parts.append(BodyPart(headers, data))
    return parts


# -- raw HTTP ------------------------------------------------------------------------------------------------


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


async def raw_request(
    port: int, target: str | bytes, method: str = "GET", headers: dict[str, str] | None = None
) -> RawAnswer:
    """Send ``target`` exactly as given (``..``, ``%2e``, ``\\`` and all) and read the answer to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        target_bytes = target if isinstance(target, bytes) else target.encode("latin-1")
        lines = [
            method.encode() + b" " + target_bytes + b" HTTP/1.1",
            b"Host: 127.0.0.1",
            b"Connection: close",
        ]
        lines += [f"{k}: {v}".encode("latin-1") for k, v in (headers or {}).items()]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), answer_headers, body)


# -- test files ----------------------------------------------------------------------------------------------


def pattern(size: int, seed: bytes = b"") -> bytes:
    """``size`` deterministic bytes in which no 16-byte block repeats (so a misplaced range shows)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.md5(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def noise(size: int, seed: int = 0) -> bytes:
    """``size`` seeded pseudo-random bytes, quickly (for files of many MiB)."""
    return random.Random(seed).randbytes(size)


def write_random_file(path: Path, size: int, seed: int = 0, block: int = 1 << 20) -> str:
    """Write ``size`` seeded pseudo-random bytes to ``path`` (fast enough for 100s of MiB); return its MD5."""
    rng = random.Random(seed)
    digest = hashlib.md5()
    with open(path, "wb") as handle:
        left = size
        while left > 0:
            data = rng.randbytes(min(block, left))
            handle.write(data)
            digest.update(data)
            left -= len(data)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
