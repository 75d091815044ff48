"""The server's side of proof of possession (pure): which bytes a client must prove it has, and checking it.

The challenge is derived, not stored: an HMAC of the file's id and the token (its ``jti`` and ``exp``) under
the server's secret gives the range's offset and the salt (``wire.possession`` says what the client does
with them). So the same token asks the same question about the same file, from any process or after a
restart, and nobody without the secret can tell in advance which bytes another token will be asked for.
"""

from __future__ import annotations

import hashlib
import hmac

from server.access.tokens import Grant, b64url_encode
from wire.possession import MAX_RANGE, Challenge, proof_digest

_LABEL = b"rt-proof-of-possession\x00"  # sets these MACs apart from the tokens' (whose input has no NUL)


def challenge_for(secret: bytes, grant: Grant, file_id: str, size: int) -> Challenge:
    """The range (``MAX_RANGE`` bytes, or the whole file when it is smaller) and salt for ``grant``'s holder
    to prove it has the file ``file_id`` of ``size`` bytes."""
    message = _LABEL + f"{file_id}\x00{grant.token_id}\x00{grant.expires}".encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    length = min(MAX_RANGE, size)
    start = int.from_bytes(mac[:8], "big") % (size - length + 1)
    return Challenge(start=start, end=start + length, salt=b64url_encode(mac[8:24]))


def proof_holds(challenge: Challenge, data: bytes, proof: str) -> bool:
    """Whether ``proof`` is the proof of ``data``, the challenged bytes of the stored file (constant time)."""
    return hmac.compare_digest(proof_digest(challenge.salt, data), proof)
