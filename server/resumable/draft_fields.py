"""The IETF resumable-upload draft's fields (interop version 8), as pure functions (RFC 9530's digest fields
are ``server.rfc.digests``'s; here only what the draft does with them).

The draft's fields are RFC 9651 structured fields, parsed and serialised by ``http_sf``. Its rule for a value
that does not parse is to ignore it: "Other values MUST cause the entire header field to be ignored", so a
parser here answers None for a malformed field, as for a missing one. Quotes are from
draft-ietf-httpbis-resumable-upload and RFC 9530.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import http_sf

from server.rfc import digests

INTEROP_VERSION = 8
PARTIAL_UPLOAD = "application/partial-upload"
PROBLEM_TYPES = "https://iana.org/assignments/http-problem-types#"


def _item(value: str | None) -> object:
    if value is None:
        return None
    try:
        parsed, _params = http_sf.parse(value.encode("latin-1"), tltype="item")
    except (http_sf.StructuredFieldError, UnicodeEncodeError, ValueError):
        return None
    return parsed


def _dictionary(value: str | None) -> Mapping[str, tuple[object, object]]:
    if value is None:
        return {}
    try:
        return http_sf.parse(value.encode("latin-1"), tltype="dictionary")  # type: ignore[no-any-return]
    except (http_sf.StructuredFieldError, UnicodeEncodeError, ValueError):
        return {}


def parse_boolean(value: str | None) -> bool | None:
    """``Upload-Complete``: "Its value is a Boolean"."""
    parsed = _item(value)
    return parsed if isinstance(parsed, bool) else None


def parse_integer(value: str | None) -> int | None:
    """``Upload-Offset`` / ``Upload-Length``: "Its value is a non-negative Integer"."""
    parsed = _item(value)
    if isinstance(parsed, bool) or not isinstance(parsed, int) or parsed < 0:
        return None
    return parsed


def parse_interop_version(value: str | None) -> int | None:
    return parse_integer(value)


@dataclass(frozen=True)
class Digest:
    """A digest a client sent: ``algorithm`` as hashlib names it, ``value`` the bytes."""

    algorithm: str
    value: bytes


def _hashlib_name(key: str) -> str:
    return key.replace("-", "")  # "sha-256" -> "sha256"


def parse_digest(value: str | None) -> Digest | None:
    """``Content-Digest`` / ``Repr-Digest`` (RFC 9530, read by ``server.rfc.digests``): the strongest one this
    server computes; None when there is none (unknown algorithms are ignored)."""
    sent = digests.parse_digests(value) or {}
    for key in (digests.SHA_512, digests.SHA_256):
        if key in sent:
            return Digest(_hashlib_name(key), sent[key])
    return None


def wanted_digest(value: str | None) -> str | None:
    """The algorithm (hashlib's name) to answer ``Want-Repr-Digest`` with, by ``server.rfc.digests``'s
    rule; None when the field is absent or asks for none this server computes."""
    preferences = digests.parse_preferences(value)
    chosen = None if preferences is None else digests.choose(preferences)
    return None if chosen is None else _hashlib_name(chosen)


def format_digest(algorithm: str, value: bytes) -> str:
    """``Repr-Digest: sha-256=:...:`` for a hashlib algorithm name."""
    key = next(key for key in digests.SUPPORTED if _hashlib_name(key) == algorithm)
    return digests.serialize([(key, value)])


def format_boolean(value: bool) -> str:
    return "?1" if value else "?0"


def format_limits(max_size: int, max_age: int | None) -> str:
    """``Upload-Limit``, a Dictionary: "max-size" and "max-append-size" (no append may exceed what an upload
    may hold), and the resource's remaining "max-age" in seconds when it has one."""
    limits: dict[str, int] = {"max-size": max_size, "max-append-size": max_size}
    if max_age is not None:
        limits["max-age"] = max(0, max_age)
    return str(http_sf.ser(limits))
