"""The engine's side of ``--auth-secret`` mode: the token on every request, and proof of possession.

- ``authorized(transport, token)``: a ``Transport`` that adds ``Authorization: Bearer <token>`` (RFC 6750
  section 2.1) to every request; the transport itself when there is no token (the open mode).
- ``answer_challenge(req, source, error)``: when a handshake for a file the server already stores is answered
  ``428 PROOF_REQUIRED``, the same handshake again with ``proof``: the SHA-256 of the challenge's salt and the
  bytes it names, read from the chosen file (``wire.possession`` is the rule both sides share). The
  controller sends it; one proof per handshake (a second challenge is an error like any other).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wire.errors import ErrorName, WireError
from wire.possession import PROOF_FIELD, Challenge, parse_challenge, proof_digest

from .errors import EngineError, Err, ServerError
from .ports import FileSource, HttpRequest, HttpResponse, JsonBody, Transport


@dataclass(frozen=True)
class BearerTransport:
    """A ``Transport`` that sends ``token`` with every request (and is otherwise ``inner``)."""

    inner: Transport
    token: str

    async def request(self, req: HttpRequest) -> HttpResponse:
        # RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token.
        return await self.inner.request(
            replace(req, headers={**req.headers, "authorization": f"Bearer {self.token}"})
        )


def authorized(transport: Transport, token: str | None) -> Transport:
    """``transport`` sending ``token`` on every request; ``transport`` itself without a token."""
    return BearerTransport(transport, token) if token else transport


def challenge_of(error: ServerError, size: int) -> Challenge | None:
    """The challenge in a ``PROOF_REQUIRED`` answer for a file of ``size`` bytes; None for any other error;
    ``BAD_RESPONSE`` when its ``data`` is not a challenge this file can answer."""
    if error.server_error != ErrorName.PROOF_REQUIRED:
        return None
    try:
        return parse_challenge(error.data, size)
    except WireError as exc:
        raise EngineError(Err.BAD_RESPONSE, f"the server's proof challenge is not valid: {exc}") from exc


async def prove(source: FileSource, challenge: Challenge) -> str:
    """The proof for ``challenge`` from the file's own bytes (``READ_FAILED`` when they cannot be read)."""
    try:
        data = await source.read(challenge.start, challenge.end)
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(
            Err.READ_FAILED, f"the file could not be read for the server's proof: {exc}"
        ) from exc
    if len(data) != challenge.end - challenge.start:
        raise EngineError(Err.FILE_CHANGED, "the file is shorter than when it was chosen; choose it again")
    return proof_digest(challenge.salt, data)


async def answer_challenge(req: HttpRequest, source: FileSource, error: ServerError) -> HttpRequest | None:
    """The handshake ``req`` again with the proof ``error`` asks for; None when ``error`` is no challenge, or
    when ``req`` carried a proof already (the server asked again: the caller fails with ``error``)."""
    if not isinstance(req.body, JsonBody) or PROOF_FIELD in req.body.value:
        return None
    challenge = challenge_of(error, source.size)
    if challenge is None:
        return None
    proof = await prove(source, challenge)
    return replace(req, body=JsonBody({**req.body.value, PROOF_FIELD: proof}))
