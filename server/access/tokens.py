"""The access tokens of ``--auth-secret`` mode: what a token grants, and signing and checking one (pure).

A token is a JSON Web Token (RFC 7519) signed with HMAC-SHA256 (JWS "HS256", RFC 7515 and RFC 7518): three
base64url parts, ``header.claims.signature``. That is the compact form any JWT library writes, so a host
application may mint tokens with its own (PyJWT, jsonwebtoken...) as well as with ``python -m server.access
mint`` or ``mint`` here. The claims:

- ``scope``: ``"upload"`` (the upload APIs: handshake, chunks, tus and the draft at ``/files/``) or
  ``"download"``;
- ``file``: a file's MD5 (32 hex digits), or ``"*"`` for any: which file may be uploaded, or downloaded at
  ``/upload/`` (an upload token without it may upload any file; a download token without it none);
- ``name``: download tokens: a file of the downloads folder (``/download/<name>``), or ``"*"``: all of them
  and their listing;
- ``max``: upload tokens: the largest file, in bytes, the token may upload (absent: the server's own limit);
- ``exp``: required, the expiry in seconds since the epoch (RFC 7519 section 4.1.4);
- ``nbf``: optional, not before, in seconds since the epoch (RFC 7519 section 4.1.5);
- ``jti``: the token's id, a random string (RFC 7519 section 4.1.7); proofs of possession depend on it.

Checking is strict where the JWT's pitfalls are (RFC 8725): the header's ``alg`` must be exactly ``HS256``
(never ``none``, never another algorithm), the signature is compared in constant time, ``exp`` is required.
Time is a parameter (``now``): nothing here reads a clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Final

from wire.ids import is_file_id

ANY: Final = "*"
MAX_TOKEN_CHARS: Final = 4096  # far more than our claims need; longer ones are refused before any decoding
MIN_SECRET_BYTES: Final = 32
_HEADER: Final = {"alg": "HS256", "typ": "JWT"}
_B64URL: Final = re.compile("[A-Za-z0-9_-]*")
_MAX_JTI: Final = 200


class Scope(StrEnum):
    UPLOAD = "upload"
    DOWNLOAD = "download"


class Failure(Enum):
    """Why a token was not accepted (each becomes a 401 with its own error name)."""

    MALFORMED = "malformed"  # not three base64url parts of JSON, or claims we do not understand
    BAD_SIGNATURE = "bad signature"  # not signed with this secret (or altered)
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"


class TokenError(ValueError):
    """A token that is not accepted: ``failure`` says why, the message says it in words."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True)
class Grant:
    """What a valid token allows."""

    scope: Scope
    expires: float  # "exp"
    token_id: str = ""  # "jti"
    file: str | None = None  # "file": an MD5 (lowercase) or ANY
    name: str | None = None  # "name": a downloads-folder file name or ANY
    max_size: int | None = None  # "max": bytes
    not_before: float | None = None  # "nbf"

    def allows_file(self, file_id: str) -> bool:
        """Whether this token covers the file ``file_id`` (an upload token without ``file`` covers any)."""
        if self.file is None:
            return self.scope is Scope.UPLOAD
        return self.file == ANY or self.file == file_id

    def allows_name(self, name: str) -> bool:
        """Whether this token covers ``/download/<name>``."""
        return self.name is not None and (self.name == ANY or self.name == name)

    def allows_size(self, size: int) -> bool:
        return self.max_size is None or size <= self.max_size

    def claims(self) -> dict[str, Any]:
        """The JWT claims set of this grant (absent fields left out)."""
        out: dict[str, Any] = {"scope": self.scope.value, "exp": self.expires}
        optional = {
            "jti": self.token_id or None,
            "file": self.file,
            "name": self.name,
            "max": self.max_size,
            "nbf": self.not_before,
        }
        return out | {key: value for key, value in optional.items() if value is not None}


# ---------------------------------------------------------------------------------------------- JWS HS256


def b64url_encode(data: bytes) -> str:
    """RFC 7515 section 2: "Base64 encoding using the URL- and filename-safe character set ... with all
    trailing '=' characters omitted"."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The inverse, strict: only the base64url alphabet, no padding (``ValueError`` otherwise)."""
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _mac(secret: bytes, signing_input: str) -> bytes:
    """RFC 7518 section 3.2: "HMAC SHA-256" over the JWS Signing Input, ASCII(header '.' payload)."""
    return hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()


def _json_part(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def sign(secret: bytes, claims: dict[str, Any]) -> str:
    """A JWS compact serialization (RFC 7515 section 7.1) of ``claims``, HS256."""
    signing_input = f"{_json_part(_HEADER)}.{_json_part(claims)}"
    return f"{signing_input}.{b64url_encode(_mac(secret, signing_input))}"


def _decoded_json(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(part))
    except (ValueError, RecursionError):
        raise TokenError(Failure.MALFORMED, f"the token's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise TokenError(Failure.MALFORMED, f"the token's {what} is not a JSON object")
    return value


def open_signed(secret: bytes, token: str) -> dict[str, Any]:
    """The claims of an HS256 JWS signed with ``secret``; ``TokenError`` when it is not one."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError(Failure.MALFORMED, f"the token is longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL.fullmatch(part) for part in parts):
        raise TokenError(Failure.MALFORMED, "a token is three base64url parts separated by dots")
    header = _decoded_json(parts[0], "header")
    # RFC 8725 section 3.1: "libraries MUST enable the caller to specify a supported set of algorithms and
    # MUST NOT use any other algorithms when performing cryptographic operations": HS256, nothing else.
    if header.get("alg") != "HS256":
        raise TokenError(Failure.MALFORMED, f"the token's algorithm must be HS256, got {header.get('alg')!r}")
    # RFC 7515 section 4.1.11: "If any of the listed extension Header Parameters are not understood and
    # supported by the recipient, then the JWS is invalid." We support none.
    if "crit" in header:
        raise TokenError(Failure.MALFORMED, "the token names critical header parameters this server lacks")
    try:
        signature = b64url_decode(parts[2])
    except ValueError:
        raise TokenError(Failure.MALFORMED, "the token's signature is not base64url") from None
    # Constant time: how much of a forged signature matches must not show in how long the answer takes.
    if not hmac.compare_digest(signature, _mac(secret, f"{parts[0]}.{parts[1]}")):
        raise TokenError(Failure.BAD_SIGNATURE, "the token's signature is not this server's")
    return _decoded_json(parts[1], "claims")


# ---------------------------------------------------------------------------------------------- our claims


def _number(claims: dict[str, Any], key: str) -> float | None:
    """A NumericDate (RFC 7519 section 2: "A JSON numeric value ... non-integer values can be
    represented")."""
    value = claims.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenError(Failure.MALFORMED, f"the token's {key!r} must be a number of seconds")
    return value


def _file(value: Any) -> str | None:
    if value is None or value == ANY:
        return value
    if not is_file_id(value):
        raise TokenError(Failure.MALFORMED, "the token's 'file' must be an MD5 (32 hex digits) or '*'")
    return str(value).lower()


def _name(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and 0 < len(value) <= 255 and "/" not in value):
        return value
    raise TokenError(Failure.MALFORMED, "the token's 'name' must be a file name (no '/') or '*'")


def _max_size(value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise TokenError(Failure.MALFORMED, "the token's 'max' must be a whole number of bytes")


def _token_id(value: Any) -> str:
    if value is None or (isinstance(value, str) and len(value) <= _MAX_JTI):
        return value or ""
    raise TokenError(
        Failure.MALFORMED, f"the token's 'jti' must be a string of at most {_MAX_JTI} characters"
    )


def grant_of(claims: dict[str, Any]) -> Grant:
    """The grant a claims set describes (its times not checked yet); ``TokenError`` when it is not ours."""
    try:
        scope = Scope(claims.get("scope"))
    except ValueError:
        raise TokenError(Failure.MALFORMED, "the token's 'scope' must be 'upload' or 'download'") from None
    expires = _number(claims, "exp")
    if expires is None:
        raise TokenError(Failure.MALFORMED, "the token has no 'exp': tokens of this server must expire")
    grant = Grant(
        scope=scope,
        expires=expires,
        token_id=_token_id(claims.get("jti")),
        file=_file(claims.get("file")),
        name=_name(claims.get("name")),
        max_size=_max_size(claims.get("max")),
        not_before=_number(claims, "nbf"),
    )
    if scope is Scope.DOWNLOAD and grant.file is None and grant.name is None:
        raise TokenError(Failure.MALFORMED, "a download token names a 'file' or a 'name' (or '*')")
    return grant


def check_time(grant: Grant, now: float) -> None:
    """RFC 7519 section 4.1.4: "the current date/time MUST be before the expiration date/time listed in the
    "exp" claim"; section 4.1.5: "the current date/time MUST be after or equal to the not-before
    date/time"."""
    if not now < grant.expires:
        raise TokenError(Failure.EXPIRED, f"the token expired {now - grant.expires:.0f} s ago")
    if grant.not_before is not None and now < grant.not_before:
        raise TokenError(Failure.NOT_YET_VALID, f"the token is valid only in {grant.not_before - now:.0f} s")


def verify(secret: bytes, token: str, now: float) -> Grant:
    """The grant of ``token`` at time ``now`` (seconds since the epoch); ``TokenError`` when it is not
    valid."""
    grant = grant_of(open_signed(secret, token))
    check_time(grant, now)
    return grant


def mint(
    secret: bytes,
    scope: Scope,
    *,
    now: float,
    ttl: float,
    file: str | None = None,
    name: str | None = None,
    max_size: int | None = None,
    token_id: str | None = None,
) -> str:
    """A token for ``scope``, valid from ``now`` for ``ttl`` seconds (the host application's side).
    ``token_id`` defaults to 128 random bits."""
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")
    grant = Grant(
        scope=Scope(scope),
        expires=int(now + ttl),
        token_id=token_id if token_id is not None else secrets.token_urlsafe(16),
        file=file,
        name=name,
        max_size=max_size,
    )
    # What we sign, we accept: a bad file, name or size fails here, not at the server; the MD5 in lower case.
    return sign(secret, grant_of(grant.claims()).claims())
