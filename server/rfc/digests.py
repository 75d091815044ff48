"""Digest Fields (RFC 9530) as pure rules: the preferences a client sends, the digests a server sends.

- ``Want-Content-Digest`` / ``Want-Repr-Digest`` (section 4) -> ``parse_preferences`` (a Structured Fields
  Dictionary, RFC 9651, of algorithm -> weight 0-10), then ``choose`` the algorithm to answer with;
- ``Content-Digest`` (section 2, the digest of the message content as sent) and ``Repr-Digest`` (section 3,
  the digest of the whole selected representation, whatever range is sent) -> ``serialize``; ``parse_digests``
  reads them back (for clients and tests).

Only the two "Active" algorithms of the registry (section 7.2: "sha-256" and "sha-512") are produced; the
"Deprecated" ones (md5, sha, unixsum, ...) never are. Bad preference fields are ignored, never an error.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import http_sf

SHA_256: Final = "sha-256"
SHA_512: Final = "sha-512"
# RFC 9530 section 7.2, "Hash Algorithms for HTTP Digest Fields": the algorithm keys with status "Active", and
# "it is RECOMMENDED that applications use these algorithms". In this order when the preferences tie.
SUPPORTED: Final = (SHA_256, SHA_512)
HASHES: Final[Mapping[str, Callable[[], hashlib._Hash]]] = {SHA_256: hashlib.sha256, SHA_512: hashlib.sha512}
# Section 4: the weight "must be in the range 0 to 10 inclusive".
MIN_WEIGHT: Final = 0
MAX_WEIGHT: Final = 10


def parse_preferences(value: str | None) -> dict[str, int] | None:
    """The preferences of a ``Want-Content-Digest`` or ``Want-Repr-Digest`` field value (its field lines
    combined with ", "), as {algorithm key: weight}; None when the field is absent, empty or ignored.

    Section 4: the fields "are of type Dictionary where each: key conveys the hashing algorithm ...; value is
    an Integer ... It must be in the range 0 to 10 inclusive." RFC 9651 section 4.2: when parsing fails, "the
    entire field is ignored"; its section 2: "in most situations, violating field-specific constraints should
    have the same effect", so a member that is not an Integer from 0 to 10 (a Boolean, a Decimal, 11, an
    inner list) voids the whole field. Unknown algorithm keys are kept (``choose`` passes over them); member
    parameters are an extension point and are ignored.
    """
    if value is None:
        return None
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except (UnicodeEncodeError, ValueError):  # http_sf.StructuredFieldError is a ValueError
        return None
    preferences: dict[str, int] = {}
    assert isinstance(parsed, dict)
    for key, member in parsed.items():
        weight = member[0] if isinstance(member, tuple) else member
        # (type() and not isinstance: a bare key is the Boolean true, and bool is an int in Python)
        if type(weight) is not int or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            return None
        preferences[key] = weight
    # An empty field value parses as a Dictionary without members: no algorithm asked for, as if not sent.
    return preferences or None


def choose(preferences: Mapping[str, int], available: Iterable[str] = SUPPORTED) -> str | None:
    """The algorithm to answer ``preferences`` with, among ``available`` (in our order of preference), or None
    for no digest at all.

    Section 4: "1 is the least preferred, 10 is the most preferred, and a value of 0 means 'not acceptable'";
    preferences "are only a hint. The receiver of the field can ignore it and send an Integrity field using
    any algorithm or omit the field entirely". Our rule: the available algorithm the client weights highest
    (ties: the first available); when it weights none of them above 0, the first available one it does not
    name (as in Appendix C.2, "Server Selects Algorithm Unsupported by Client", where "sha=10" is
    answered with "sha-512"); never one it finds not acceptable, so none when it names them all as 0.
    """
    candidates = tuple(available)
    weighted = [
        (preferences[alg], -i, alg) for i, alg in enumerate(candidates) if preferences.get(alg, 0) > 0
    ]
    if weighted:
        return max(weighted)[2]
    return next((alg for alg in candidates if alg not in preferences), None)


def serialize(digests: Iterable[tuple[str, bytes]]) -> str:
    """A ``Content-Digest`` or ``Repr-Digest`` field value: a Dictionary of algorithm -> Byte Sequence.

    Sections 2 and 3: each "value is a Byte Sequence ... that conveys an encoded version of the byte output
    produced by the digest calculation"; RFC 9651 section 4.1.8 serializes a Byte Sequence as ":", its base64
    (RFC 4648 section 4, with padding) and ":". Members are joined by ", " (RFC 9651 section 4.1.2).
    """
    return ", ".join(f"{alg}=:{base64.b64encode(digest).decode('ascii')}:" for alg, digest in digests)


def parse_digests(value: str | None) -> dict[str, bytes] | None:
    """The digests of a ``Content-Digest`` or ``Repr-Digest`` field value, {algorithm key: digest bytes}; None
    when absent or not a Dictionary of Byte Sequences (section 2: "value is a Byte Sequence")."""
    if value is None:
        return None
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except (UnicodeEncodeError, ValueError):
        return None
    assert isinstance(parsed, dict)
    digests: dict[str, bytes] = {}
    for key, member in parsed.items():
        digest = member[0] if isinstance(member, tuple) else member
        if not isinstance(digest, bytes):
            return None
        digests[key] = digest
    return digests or None


def digest(algorithm: str, data: bytes) -> bytes:
    """The checksum of ``data`` with ``algorithm`` (one of ``SUPPORTED``)."""
    hasher = HASHES[algorithm]()
    hasher.update(data)
    return hasher.digest()


# RFC 9530 Appendix B.2: a response without content (HEAD) has its "Content-Digest field-value ... computed on
# empty content".
EMPTY: Final[Mapping[str, bytes]] = {alg: digest(alg, b"") for alg in SUPPORTED}
