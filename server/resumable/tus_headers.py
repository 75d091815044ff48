"""The tus 1.0.0 header rules, as pure functions: parse what a client sends, format what the server answers.

Each parser returns clean values or raises ``ApiError`` with a message that says which header is wrong and
how. The quoted rules are from the tus 1.0.0 protocol (https://tus.io/protocols/resumable-upload).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from server.errors import ApiError, E

TUS_VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "checksum",
    "expiration",
    "concatenation",
)
# "The Server MUST support at least the SHA1 checksum algorithm identified by sha1."
CHECKSUM_ALGORITHMS = ("md5", "sha1", "sha256")
OFFSET_OCTET_STREAM = "application/offset+octet-stream"

_DIGITS = re.compile(r"[0-9]{1,19}")
# "The key MUST NOT contain spaces and commas and MUST NOT be empty. The key SHOULD be ASCII encoded"
_METADATA_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]+")


def parse_size(name: str, value: str | None) -> int | None:
    """``Upload-Offset`` / ``Upload-Length``: "The value MUST be a non-negative integer." None when absent."""
    if value is None:
        return None
    if not _DIGITS.fullmatch(value.strip()):
        raise ApiError(E.BAD_UPLOAD_HEADER, f"{name} must be a non-negative integer, got {value[:40]!r}")
    return int(value)


def parse_defer_length(value: str | None) -> bool:
    """``Upload-Defer-Length``: "Its value MUST be 1." (anything else: 400)."""
    if value is None:
        return False
    if value.strip() != "1":
        raise ApiError(E.BAD_UPLOAD_HEADER, f"Upload-Defer-Length must be 1, got {value[:40]!r}")
    return True


def parse_metadata(value: str | None) -> dict[str, bytes]:
    """``Upload-Metadata``: "one or more comma-separated key-value pairs. The key and value MUST be separated
    by a space ... the value MUST be Base64 encoded. All keys MUST be unique. The value MAY be empty. In these
    cases, the space ... MAY be left out." (An empty header is taken as no metadata.)"""
    if value is None or not value.strip():
        return {}
    pairs: dict[str, bytes] = {}
    for item in value.split(","):
        key, _, encoded = item.strip().partition(" ")
        if not _METADATA_KEY.fullmatch(key):
            raise ApiError(
                E.BAD_UPLOAD_HEADER,
                f"Upload-Metadata: each pair must be a key of printable ASCII without spaces or commas, then a "
                f"space and a Base64 value; got {item.strip()[:60]!r}",
            )
        if key in pairs:
            raise ApiError(E.BAD_UPLOAD_HEADER, f"Upload-Metadata: the key {key!r} appears twice")
        try:
            pairs[key] = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                E.BAD_UPLOAD_HEADER, f"Upload-Metadata: the value of {key!r} is not Base64"
            ) from None
    return pairs


def metadata_text(pairs: dict[str, bytes], key: str) -> str | None:
    """A metadata value as text (UTF-8), or None when absent or not text."""
    raw = pairs.get(key)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # one of CHECKSUM_ALGORITHMS, the name hashlib knows it by
    digest: bytes


def parse_checksum(value: str | None) -> Checksum | None:
    """``Upload-Checksum``: "the name of the used checksum algorithm and the Base64 encoded checksum separated
    by a space"; an algorithm the server does not support is "400 Bad Request"."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ApiError(
            E.BAD_CHECKSUM_ALGORITHM,
            f"Upload-Checksum uses {algorithm[:20]!r}; this server supports {', '.join(CHECKSUM_ALGORITHMS)}",
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(E.BAD_UPLOAD_HEADER, "Upload-Checksum: the checksum is not Base64") from None
    return Checksum(algorithm, digest)


@dataclass(frozen=True)
class Concat:
    """``Upload-Concat``: a partial upload, or a final one made of the uploads at ``parts`` (their keys)."""

    partial: bool
    parts: tuple[str, ...] = ()


def parse_concat(value: str | None, collection: str) -> Concat | None:
    """ "If the upload is a partial one, the header value MUST be partial. In the case of a final upload, its
    value MUST be final followed by a semicolon and a space-separated list of partial upload URLs"; "The partial
    uploads URLs MAY be absolute or relative". Each URL must name an upload under ``collection``."""
    if value is None:
        return None
    text = value.strip()
    if text == "partial":
        return Concat(partial=True)
    kind, semicolon, urls = text.partition(";")
    if kind.strip() != "final" or not semicolon or not urls.split():
        raise ApiError(
            E.BAD_UPLOAD_HEADER,
            f"Upload-Concat must be 'partial' or 'final;<url> <url>...', got {value[:60]!r}",
        )
    keys = []
    for url in urls.split():
        path = url.split("://", 1)[-1]
        path = path[path.find("/") :] if "://" in url else path
        if not path.startswith(collection) or not path[len(collection) :] or "/" in path[len(collection) :]:
            raise ApiError(
                E.BAD_UPLOAD_HEADER, f"Upload-Concat: {url[:80]!r} is not an upload URL of this server"
            )
        keys.append(path[len(collection) :])
    return Concat(partial=False, parts=tuple(keys))


def check_version(value: str | None) -> None:
    """ "If the version specified by the Client is not supported by the Server, it MUST respond with the 412
    Precondition Failed status and MUST include the Tus-Version header" (a missing one is not supported)."""
    if value is None or value.strip() != TUS_VERSION:
        shown = "none" if value is None else repr(value[:20])
        raise ApiError(
            E.TUS_VERSION,
            f"Tus-Resumable is {shown}; this server speaks tus {TUS_VERSION}",
            headers={"Tus-Version": TUS_VERSION},
        )


def capabilities(max_size: int) -> dict[str, str]:
    """What an OPTIONS answer advertises (and only what works)."""
    return {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
