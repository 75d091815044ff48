"""Proof of possession for an instant upload (``--auth-secret`` mode): the challenge and the proof.

When a handshake names a file the server already stores, the open mode answers its URL at once ("instant
upload"): knowing the MD5 is enough. With ``--auth-secret`` the server first asks the client to show it has
the bytes: it answers ``428 PROOF_REQUIRED`` with ``data = {start, end, salt}`` (a range of the file, ``end``
exclusive, and a salt), and the client sends the handshake again with ``proof``: the SHA-256 (hex) of the
salt's ASCII bytes followed by the file's bytes ``[start, end)``.

Why a salt and not the MD5 of the range alone: for a file no larger than the range, the range is the whole
file and its MD5 is the ``fileId`` the client sent; the salt makes the answer depend on the bytes themselves.
Why SHA-256: nothing here needs MD5 (the ids do, for the seed's sake); a proof is a short, fresh digest.

The server picks the range and the salt (``server.access.proof``); this module is what both sides agree on,
and the engine's side reads the challenge with ``parse_challenge``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final

from wire.errors import WireError, shown

PROOF_FIELD: Final = "proof"  # the handshake's field that carries the proof
MAX_RANGE: Final = 64 * 1024  # the most bytes a challenge asks for (the whole file when it is smaller)
_HEX64: Final = re.compile("[0-9a-f]{64}")
_SALT: Final = re.compile("[A-Za-z0-9_-]{8,64}")


@dataclass(frozen=True)
class Challenge:
    """Bytes ``[start, end)`` of the file, and the salt that goes before them into the proof."""

    start: int
    end: int
    salt: str

    def as_data(self) -> dict[str, object]:
        """The challenge as ``PROOF_REQUIRED``'s ``data``."""
        return {"start": self.start, "end": self.end, "salt": self.salt}


def proof_digest(salt: str, data: bytes) -> str:
    """The proof for ``data`` (the challenged bytes): SHA-256 hex of the salt's ASCII bytes, then the data."""
    digest = hashlib.sha256(salt.encode("ascii"))
    digest.update(data)
    return digest.hexdigest()


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_challenge(data: Any, size: int) -> Challenge:
    """``PROOF_REQUIRED``'s ``data`` for a file of ``size`` bytes: a range inside it, of at most ``MAX_RANGE``
    bytes, and a salt; ``WireError`` otherwise (a client must not be made to read more than that)."""
    if not isinstance(data, dict):
        raise WireError(f"a proof challenge must be an object, got {shown(data)}")
    start, end, salt = data.get("start"), data.get("end"), data.get("salt")
    if not (_whole_number(start) and _whole_number(end)) or not start <= end <= size:
        raise WireError(
            f"a proof challenge's range must lie in the file's {size} bytes, got {start!r}-{end!r}"
        )
    if end - start > MAX_RANGE:
        raise WireError(f"a proof challenge asks for at most {MAX_RANGE} bytes, got {end - start}")
    if not isinstance(salt, str) or _SALT.fullmatch(salt) is None:
        raise WireError(f"a proof challenge's salt must be 8 to 64 base64url characters, got {shown(salt)}")
    return Challenge(start, end, salt)


def parse_proof(value: Any) -> str | None:
    """The handshake's ``proof`` (64 hex digits, kept in lower case), or None when it has none."""
    if value is None:
        return None
    if not isinstance(value, str) or _HEX64.fullmatch(value.lower()) is None:
        raise WireError(f"proof must be 64 hexadecimal digits (a SHA-256), got {shown(value)}")
    return value.lower()
