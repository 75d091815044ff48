"""The HTTP side of ``--auth-secret`` mode: the middleware that checks each protected request's token, and the
two checks the handshake's handler asks for once it has read the body (the file and size, the proof).

Without ``--auth-secret`` none of this does anything: the open mode is the seed's protocol, unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web

from server.access import rules
from server.access.bearer import QUERY_PARAMETER, CredentialsError, Problem, challenge, credentials
from server.access.proof import challenge_for, proof_holds
from server.access.rules import Guard, Target
from server.access.tokens import Failure, Grant, TokenError, verify
from server.errors import ApiError, E
from server.keys import SETTINGS, UPLOADS
from server.resumable.tus_headers import TUS_VERSION
from server.storage.contract import StoredFile
from server.uploads.protocol import Handshake, split_upload_path
from wire.errors import WireError
from wire.possession import parse_proof

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

GRANT = web.RequestKey("grant", Grant)  # what the request's token allows (only in --auth-secret mode)


def _secret(request: web.Request) -> bytes | None:
    secret = request.app[SETTINGS].auth_secret
    return secret.encode("utf-8") if secret else None


def _route(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """In ``--auth-secret`` mode, a protected request (``rules.GUARDS``) needs a valid token that allows it:
    401 without one, or with one that is malformed, forged or expired; 403 with one for something else."""
    secret = _secret(request)
    guard = rules.guard_for(request.method, _route(request)) if secret is not None else None
    if secret is None or guard is None:
        return await handler(request)
    try:
        grant = _authenticate(request, secret, guard)
        rules.check_scope(grant, guard)
        _check_target(request, grant, guard)
    except ApiError as err:
        if guard.target is Target.STREAM and "Tus-Resumable" in request.headers:
            # tus 1.0.0: "The Tus-Resumable header MUST be included in every request and response except for
            # OPTIONS requests."
            err.headers.setdefault("Tus-Resumable", TUS_VERSION)
        raise
    request[GRANT] = grant
    response = await handler(request)
    if guard.is_download:
        # RFC 9111 section 5.2.2.7: "The private response directive indicates that a shared cache MUST NOT
        # store the response": a proxy must not hand a file fetched with a token to requests without one.
        response.headers.setdefault(hdrs.CACHE_CONTROL, "private")
    return response


def _authenticate(request: web.Request, secret: bytes, guard: Guard) -> Grant:
    """The grant of the request's token; 401 (or 400 for two tokens) with a ``WWW-Authenticate`` challenge."""
    try:
        found = credentials(
            request.headers.getall(hdrs.AUTHORIZATION, []),
            request.query.getall(QUERY_PARAMETER, []),
            query_allowed=guard.is_download,
        )
    except CredentialsError as exc:
        kind = E.BAD_REQUEST if exc.problem is Problem.INVALID_REQUEST else E.TOKEN_INVALID
        raise ApiError(
            kind, str(exc), headers={"WWW-Authenticate": challenge(exc.problem, str(exc))}
        ) from None
    if found.token is None:
        hint = " (?token= is accepted on downloads only)" if found.ignored_query else ""
        # RFC 9110 section 15.5.2: "The server generating a 401 response MUST send a WWW-Authenticate header
        # field containing at least one challenge applicable to the target resource."
        raise ApiError(
            E.TOKEN_REQUIRED, E.TOKEN_REQUIRED.message + hint, headers={"WWW-Authenticate": challenge()}
        )
    return check_token(secret, found.token, time.time())


def check_token(secret: bytes, token: str, now: float) -> Grant:
    """The grant of a token; 401 TOKEN_EXPIRED or TOKEN_INVALID (RFC 6750 section 3.1, invalid_token)."""
    try:
        return verify(secret, token, now)
    except TokenError as exc:
        kind = E.TOKEN_EXPIRED if exc.failure is Failure.EXPIRED else E.TOKEN_INVALID
        header = challenge(Problem.INVALID_TOKEN, str(exc))
        raise ApiError(kind, str(exc), headers={"WWW-Authenticate": header}) from None


def check_embed_token(request: web.Request, token: str | None) -> None:
    """The embedded uploader's ``token`` option, checked before its frame is made (``GET /api/embed``), so the
    host page learns at once that it gave a bad or expired token, or one that cannot upload."""
    secret = _secret(request)
    if secret is None or token is None:
        return
    grant = check_token(secret, token, time.time())
    rules.check_scope(grant, rules.GUARDS["/api/upload/handshake"])


def _check_target(request: web.Request, grant: Grant, guard: Guard) -> None:
    """What the request line and headers say, against the grant (the handshake's body is its handler's)."""
    match guard.target:
        case Target.UPLOADED_FILE:
            parts = split_upload_path(request.match_info["tail"])
            if parts is not None:  # else no such file: the handler answers 404
                rules.check_uploaded_file(grant, parts[0])
        case Target.FOLDER_FILE:
            rules.check_folder_file(grant, request.match_info["name"])
        case Target.FOLDER_LIST:
            rules.check_folder_list(grant)
        case Target.STREAM:
            rules.check_stream(
                grant,
                upload_length=request.headers.get("Upload-Length"),
                upload_offset=request.headers.get("Upload-Offset"),
                content_length=request.content_length,
                chunked=request.headers.get(hdrs.TRANSFER_ENCODING, "").lower() == "chunked",
            )
        case Target.HANDSHAKE | Target.CHUNK:
            pass  # the handshake's handler checks the file and size (check_handshake)


def check_handshake(request: web.Request, hs: Handshake) -> None:
    """403 TOKEN_FORBIDDEN when the request's token does not allow uploading this file of this size."""
    grant = request.get(GRANT)
    if grant is not None:
        rules.check_upload(grant, hs.file_id, hs.size)


def check_chunk(request: web.Request, file_id: str) -> None:
    """403 TOKEN_FORBIDDEN when the request's token does not allow uploading to this file (a chunk's fileId)."""
    grant = request.get(GRANT)
    if grant is not None and not grant.allows_file(file_id):
        raise rules.forbidden(f"the token is for another file than {file_id}")


async def check_possession(request: web.Request, hs: Handshake, stored: StoredFile, proof: Any) -> None:
    """Before a handshake answers the URL of a file already stored: the client must prove it has its bytes.

    Without ``proof``: 428 PROOF_REQUIRED with the challenge in ``data``. RFC 6585 section 3: "The 428 status
    code indicates that the origin server requires the request to be conditional ... Responses using this
    status code SHOULD explain how to resubmit the request successfully." A wrong proof: 403
    PROOF_MISMATCH."""
    grant, secret = request.get(GRANT), _secret(request)
    if grant is None or secret is None:
        return
    try:
        given = parse_proof(proof)
    except WireError as exc:
        raise ApiError(E.BAD_FIELD, str(exc)) from None
    wanted = challenge_for(secret, grant, hs.file_id, stored.size)
    if given is None:
        raise ApiError(
            E.PROOF_REQUIRED,
            f"this file is already stored: send the handshake again with proof, the SHA-256 of the salt "
            f"then bytes {wanted.start} to {wanted.end} (exclusive) of the file",
            wanted.as_data(),
        )
    published = await request.app[UPLOADS].published(hs.file_id, hs.ext)
    if published is None:  # removed since the handshake found it
        raise ApiError(E.NOT_FOUND, "the stored file is gone: send the handshake again")
    data = b"".join([piece async for piece in published.read(wanted.start, wanted.end - wanted.start)])
    if not proof_holds(wanted, data, given):
        raise ApiError(
            E.PROOF_MISMATCH, f"the proof does not match bytes {wanted.start}-{wanted.end} of the file"
        )
