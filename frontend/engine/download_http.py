"""Downloads on the wire: the requests (RFC 9110 ranges, RFC 9530 digests) and what their answers mean.

- The probe: ``GET`` with ``Range: bytes=0-0`` (one byte). A ``206`` says the server takes ranges and gives
  the size (``Content-Range: bytes 0-0/<size>``), the ``ETag``, the file's name (``Content-Disposition``)
  and, once the server has computed it, ``Repr-Digest: sha-256=:<base64>:`` of the whole file; a ``200`` says
  it does not take ranges (the body is not read: the file then comes in one request); a ``416`` with
  ``Content-Range: bytes */0`` is an empty file. Error answers carry the server's ``{code, msg, data, error}``.
  (A ``HEAD`` would carry the same fields but no error message.)
- A segment: ``GET`` with ``Range: bytes=<first>-<last>``, ``If-Range: <ETag>`` and
  ``Want-Content-Digest: sha-256=10``. RFC 9110 section 13.1.5: "if the validator given in the If-Range
  header field matches the current validator for the selected representation of the target resource, then
  the server SHOULD process the Range header field as requested. If the validator does not match, then the
  server MUST ignore the Range header field", so a file replaced on the server answers ``200`` with the whole
  new file instead of a piece of it: the download starts over, it never splices two versions. A ``206`` then
  may carry ``Content-Digest`` (RFC 9530 section 2: the digest of "the actual message content", here the
  part), which the segment is checked against as it lands.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import protocol
from .download_plan import Segment
from .errors import EngineError, Err, ServerError
from .ports import HttpRequest, HttpResponse

SHA256 = "sha-256"  # RFC 9530 section 5: the Hash Algorithms for HTTP Digest Fields registry's name
# RFC 9530 section 4: "Want-Content-Digest: sha-256=10" asks for sha-256 with the highest preference.
WANT_CONTENT_DIGEST = f"{SHA256}=10"


# ---------------------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------------------


def probe_request(url: str, timeout: float | None = None) -> HttpRequest:
    return HttpRequest("GET", url, {"range": "bytes=0-0"}, timeout=timeout)


def segment_request(
    url: str, segment: Segment, etag: str, *, ranged: bool = True, want_digest: bool = True,
    timeout: float | None = None,
) -> HttpRequest:  # fmt: skip
    headers: dict[str, str] = {}
    if ranged:
        headers["range"] = f"bytes={segment.start}-{segment.end - 1}"
        if etag:  # RFC 9110 section 13.1.5: "A client MUST NOT generate an If-Range header field containing
            # an entity tag that is marked as weak" (``Representation.etag`` keeps only strong ones).
            headers["if-range"] = etag
        if want_digest:
            headers["want-content-digest"] = WANT_CONTENT_DIGEST
    return HttpRequest("GET", url, headers, timeout=timeout)


# ---------------------------------------------------------------------------------------------------------
# Header fields
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentRange:
    first: int | None  # None for an unsatisfied range: "bytes */<size>"
    last: int | None
    complete: int | None  # None when the server does not know ("*")


def parse_content_range(value: str | None) -> ContentRange | None:
    """RFC 9110 section 14.4: ``bytes 0-499/1234``, ``bytes 0-499/*``, ``bytes */1234``; None if malformed."""
    if value is None:
        return None
    unit, _, rest = value.strip().partition(" ")
    if unit.lower() != "bytes":
        return None
    span, slash, length = rest.strip().partition("/")
    if not slash:
        return None
    complete = None if length == "*" else _digits(length)
    if length != "*" and complete is None:
        return None
    if span == "*":
        return None if complete is None else ContentRange(None, None, complete)
    first_text, dash, last_text = span.partition("-")
    first, last = _digits(first_text), _digits(last_text)
    if not dash or first is None or last is None or last < first:
        return None
    if complete is not None and last >= complete:
        return None
    return ContentRange(first, last, complete)


def _digits(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and text.isascii() else None


def strong_etag(value: str | None) -> str:
    """The ETag if it is strong (``"abc"``), else "" (weak ``W/"abc"`` or none: no If-Range possible)."""
    if value is None:
        return ""
    value = value.strip()
    return value if len(value) >= 2 and value[0] == '"' and value[-1] == '"' else ""


def parse_digests(value: str | None) -> dict[str, bytes]:
    """RFC 9530 ``Repr-Digest`` / ``Content-Digest``: a Dictionary (RFC 8941) of algorithm -> Byte Sequence,
    e.g. ``sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:``. Unknown or malformed members are left
    out (RFC 9530 section 2: "a recipient MAY ignore any or all digests")."""
    out: dict[str, bytes] = {}
    if not value:
        return out
    for member in value.split(","):  # base64 has no comma, so a top-level split is exact here
        key, eq, item = member.strip().partition("=")
        item = item.split(";", 1)[0].strip()  # parameters are not used
        if not eq or len(item) < 2 or item[0] != ":" or item[-1] != ":":
            continue
        try:
            out[key.strip().lower()] = binascii.a2b_base64(item[1:-1].encode("ascii"), strict_mode=True)
        except (binascii.Error, ValueError):
            continue
    return out


def filename_from_disposition(value: str | None) -> str | None:
    """The file name of a ``Content-Disposition`` field (RFC 6266 section 4.3: ``filename*`` when present,
    RFC 8187 ``UTF-8''<percent-encoded>``, else ``filename``); only its last path segment; None if none."""
    if not value:
        return None
    params: dict[str, str] = {}
    for param in _split_params(value)[1:]:
        name, eq, raw = param.partition("=")
        if eq:
            params[name.strip().lower()] = raw.strip()
    name: str | None = None
    extended = params.get("filename*")
    if extended is not None:
        charset, _, rest = extended.partition("'")
        _lang, _, encoded = rest.partition("'")
        if charset.lower() == "utf-8":
            name = _percent_decode(encoded)
    if name is None and "filename" in params:
        raw = params["filename"]
        name = _unquote(raw) if raw.startswith('"') else raw
    if name is None:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or None


def _split_params(value: str) -> list[str]:
    """Split at ``;`` outside quoted strings."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(raw: str) -> str:
    """An RFC 9110 quoted-string's content (``\\x`` -> ``x``)."""
    inner, out, escaped = raw[1:-1] if raw.endswith('"') and len(raw) >= 2 else raw[1:], [], False
    for ch in inner:
        if escaped or ch != "\\":
            out.append(ch)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _percent_decode(text: str) -> str | None:
    """RFC 3986 percent-decoding into UTF-8 text (``urllib.parse`` is left out of the page's start-up)."""
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            try:
                raw.append(int(text[i + 1 : i + 3], 16))
            except ValueError:
                return None
            i += 3
        else:
            raw += text[i].encode("utf-8")
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def name_from_url(url: str) -> str:
    """The name a URL suggests: ``?name=`` (the upload's link), else the last path segment, decoded."""
    path, _, query = url.partition("#")[0].partition("?")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "name" and value:
            decoded = _percent_decode(value.replace("+", " "))
            if decoded:
                return decoded
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return _percent_decode(last) or last or "download"


def expected_md5(url: str) -> str | None:
    """The MD5 an uploaded file's link promises: ``/upload/<fileId><ext>`` names the file by its MD5."""
    path = url.partition("#")[0].partition("?")[0]
    _, marker, tail = path.partition(protocol.FILES_PATH)
    file_id = tail[:32].lower()
    if not marker or len(file_id) != 32 or any(c not in "0123456789abcdef" for c in file_id):
        return None
    return file_id


# ---------------------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """What the server said about the file (the probe, or a segment's answer)."""

    size: int
    etag: str  # strong, or "" when the server gave none
    ranged: bool  # the server takes range requests
    name: str | None = None  # from Content-Disposition
    sha256: bytes | None = None  # Repr-Digest's sha-256, once the server has computed it


def server_error(status: int, body_text: str) -> ServerError:
    """The server's error as the engine's ``ServerError`` (its ``msg`` and ``error`` name when the body is
    the envelope), whatever the body."""
    try:
        protocol.envelope_data(HttpResponse(status, _json(body_text)))
    except ServerError as exc:
        return exc
    except EngineError:
        pass
    return ServerError(status, f"the server answered HTTP {status}")


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def representation(status: int, headers: Mapping[str, str]) -> Representation | None:
    """The representation a probe's (or a segment's) answer describes; None when ``status`` is not one
    that describes it (an error)."""
    etag = strong_etag(headers.get("etag"))
    name = filename_from_disposition(headers.get("content-disposition"))
    sha256 = parse_digests(headers.get("repr-digest")).get(SHA256)
    if status == 206:
        content_range = parse_content_range(headers.get("content-range"))
        if content_range is None or content_range.complete is None:
            raise EngineError(Err.UNEXPECTED_ANSWER, "a 206 answer without a complete Content-Range")
        return Representation(content_range.complete, etag, True, name, sha256)
    if status == 200:
        length = _digits(headers.get("content-length") or "")
        if length is None:
            raise EngineError(Err.UNEXPECTED_ANSWER, "the server sends this file without a Content-Length")
        return Representation(length, etag, False, name, sha256)
    if status == 416:  # an empty file has no byte 0: RFC 9110 section 15.5.17 "bytes */<complete-length>"
        content_range = parse_content_range(headers.get("content-range"))
        if content_range is not None and content_range.complete == 0:
            return Representation(0, etag, True, name, sha256)
    return None


class PartVerdict(Enum):
    OK = "ok"  # the answer is the segment asked for: read its body
    CHANGED = "changed"  # the file is not the version the download started with: start over


def check_part(
    status: int, headers: Mapping[str, str], segment: Segment, size: int, etag: str, ranged: bool
) -> PartVerdict | None:
    """What a segment's answer means before its body is read; None: an error answer (``server_error``)."""
    if ranged and status == 206:
        content_range = parse_content_range(headers.get("content-range"))
        if content_range is None:
            raise EngineError(Err.UNEXPECTED_ANSWER, "a 206 answer without a valid Content-Range")
        if content_range.complete is not None and content_range.complete != size:
            return PartVerdict.CHANGED
        got_etag = strong_etag(headers.get("etag"))
        if etag and got_etag and got_etag != etag:
            return PartVerdict.CHANGED
        if (content_range.first, content_range.last) != (segment.start, segment.end - 1):
            raise EngineError(
                Err.UNEXPECTED_ANSWER,
                f"asked for bytes {segment.start}-{segment.end - 1}, got {headers.get('content-range')}",
            )
        return PartVerdict.OK
    if status == 200:
        if ranged:  # If-Range did not match: the whole new version came instead of a piece of the old one
            return PartVerdict.CHANGED
        got_etag = strong_etag(headers.get("etag"))
        length = _digits(headers.get("content-length") or "")
        if (etag and got_etag != etag) or length != size:
            return PartVerdict.CHANGED
        return PartVerdict.OK
    if status == 416:  # the file is shorter than it was
        return PartVerdict.CHANGED
    return None
