"""The IETF resumable-upload draft's fields (interop version 8) and RFC 9530's digest fields, as pure functions.

The draft's fields are RFC 9651 structured fields, parsed and serialised by ``http_sf``. Its rule for a value
that does not parse is to ignore it: "Other values MUST cause the entire header field to be ignored", so a
parser here answers None for a malformed field, as for a missing one. Quotes are from
draft-ietf-httpbis-resumable-upload and RFC 9530.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import http_sf

INTEROP_VERSION = 8
PARTIAL_UPLOAD = "application/partial-upload"
# RFC 9530 section 5: the algorithms in the registry's "Active" state that this server computes.
DIGEST_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512"}
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


def parse_digest(value: str | None) -> Digest | None:
    """``Content-Digest`` / ``Repr-Digest`` (RFC 9530 section 2-3: a Dictionary of algorithm -> Byte Sequence):
    the strongest one this server computes; None when there is none (unknown algorithms are ignored)."""
    members = _dictionary(value)
    for name in ("sha-512", "sha-256"):
        member = members.get(name)
        if member is not None and isinstance(member[0], bytes):
            return Digest(DIGEST_ALGORITHMS[name], member[0])
    return None


def wanted_digest(value: str | None) -> str | None:
    """``Want-Repr-Digest`` (RFC 9530 section 4: algorithm -> preference 0-10, "0 means not accepted"): the
    preferred algorithm this server computes (hashlib's name), or None."""
    best: tuple[int, str] | None = None
    for name, (weight, _params) in _dictionary(value).items():
        usable = name in DIGEST_ALGORITHMS and isinstance(weight, int) and not isinstance(weight, bool)
        if usable and 1 <= weight <= 10 and (best is None or weight > best[0]):  # type: ignore[operator]
            best = (weight, DIGEST_ALGORITHMS[name])  # type: ignore[assignment]
    return None if best is None else best[1]


def format_digest(algorithm: str, value: bytes) -> str:
    """``Repr-Digest: sha-256=:...:`` for a hashlib algorithm name."""
    name = next(key for key, known in DIGEST_ALGORITHMS.items() if known == algorithm)
    return str(http_sf.ser({name: value}))


def format_boolean(value: bool) -> str:
    return "?1" if value else "?0"


def format_limits(max_size: int, max_age: int | None) -> str:
    """``Upload-Limit``, a Dictionary: "max-size" and "max-append-size" (no append may exceed what an upload
    may hold), and the resource's remaining "max-age" in seconds when it has one."""
    limits: dict[str, int] = {"max-size": max_size, "max-append-size": max_size}
    if max_age is not None:
        limits["max-age"] = max(0, max_age)
    return str(http_sf.ser(limits))
