"""The IETF resumable-upload draft (interop version 8) on upload resources at ``/files/``: creation, offset
retrieval, append, cancellation. Its fields are ``server.resumable.draft_fields``; ``StreamUploads``
decides; errors answer as RFC 9457 problem details (``envelope.PROBLEM_DETAILS``). RFC 9530 digests on
requests are checked: ``Content-Digest`` against each request's content, ``Repr-Digest`` (at creation)
against the whole upload once complete; ``Want-Repr-Digest`` is honoured on the answer that completes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from server import envelope
from server.errors import ApiError, E
from server.keys import SETTINGS, STREAMS
from server.middleware import CLIENT, charge_upload_bytes
from server.resumable import draft_fields as fields
from server.resumable.bodies import RequestBody, upload_url
from server.resumable.tus_headers import Checksum
from server.rfc.content_disposition import parse_filename
from server.storage.contract import Upload
from server.uploads.streams import offset_of
from wire.names import offered_ext

log = logging.getLogger(__name__)

_STATUS_104 = b"HTTP/1.1 104 Upload Resumption Supported\r\n"


def _limits(request: web.Request, upload: Upload | None) -> str:
    max_age = None
    if upload is not None:
        max_age = int(request.app[STREAMS].expires_at(upload) - request.app[STREAMS].clock())
    return fields.format_limits(request.app[SETTINGS].max_file_bytes, max_age)


def _state(request: web.Request, upload: Upload) -> dict[str, str]:
    answer = {
        "Upload-Offset": str(offset_of(upload)),
        "Upload-Complete": fields.format_boolean(upload.published is not None),
        "Upload-Limit": _limits(request, upload),
    }
    if upload.size is not None:
        answer["Upload-Length"] = str(upload.size)
    return answer


def _content_digest(request: web.Request) -> Checksum | None:
    digest = fields.parse_digest(request.headers.get("Content-Digest"))
    return None if digest is None else Checksum(digest.algorithm, digest.value)


async def _send_104(request: web.Request, url: str, upload: Upload) -> None:
    """ "the server SHOULD announce the upload resource by sending an interim response with the 104 (Upload
    Resumption Supported) status code", only to a client of this interop version, over HTTP/1.1 (aiohttp has
    no interim-response API beyond 100 Continue, but its writer sends raw bytes before the final answer)."""
    version = fields.parse_interop_version(request.headers.get("Upload-Draft-Interop-Version"))
    if version != fields.INTEROP_VERSION or request.version < (1, 1):
        return
    head = _STATUS_104 + f"Location: {url}\r\nUpload-Limit: {_limits(request, upload)}\r\n\r\n".encode(
        "latin-1"
    )
    await request.writer.write(head)


async def _completed(request: web.Request, upload: Upload) -> web.Response:
    """The answer to the request that completed the upload: what the file became ("the response that matches
    what the resource ... would have generated"), with ``Upload-Complete: ?1``."""
    streams = request.app[STREAMS]
    assert upload.published is not None
    name = streams.protocol_info(upload).get("name")
    ext = offered_ext(str(name or ""))
    base = request.app[SETTINGS].public_url.rstrip("/") or str(request.url.origin())
    data = {"fileId": upload.published, "size": upload.size, "url": f"{base}/upload/{upload.published}{ext}"}
    response = envelope.ok(data)
    response.headers.update(_state(request, upload) | {"Location": upload_url(request, upload.key)})
    wanted = fields.wanted_digest(request.headers.get("Want-Repr-Digest"))
    if wanted is not None:
        digest = await streams.repr_digest(upload, wanted)
        if digest is not None:
            response.headers["Repr-Digest"] = fields.format_digest(wanted, digest)
    return response


def _mismatch(upload: Upload, offset: int) -> ApiError:
    """ "the server MUST reject the request with a 409 (Conflict) status code. The response MUST include the
    correct offset in the Upload-Offset header field", with the problem's two members."""
    current = offset_of(upload)
    return ApiError(
        E.OFFSET_MISMATCH,
        f"Upload-Offset is {offset}, but the upload's offset is {current}",
        {"expected-offset": current, "provided-offset": offset},
        {"Upload-Offset": str(current)},
    )


async def _append(request: web.Request, upload: Upload, offset: int, complete: bool) -> Upload:
    if offset != offset_of(upload):
        raise _mismatch(upload, offset)
    length = fields.parse_integer(request.headers.get("Upload-Length"))
    if complete and request.content_length is not None:
        # "The length is then the sum of the current offset and the Content-Length header field value."
        implied = offset + request.content_length
        if length is not None and length != implied:
            raise ApiError(
                E.INCONSISTENT_LENGTH,
                f"Upload-Length is {length}, but this last request ends the upload at {implied} bytes",
            )
        length = implied
    if request.content_length:
        charge_upload_bytes(request, request.content_length)
    body = RequestBody(request, request.app[SETTINGS].body_timeout_seconds)
    try:
        return await request.app[STREAMS].append(
            upload.key, offset, body, length=length, checksum=_content_digest(request), complete=complete
        )
    except ApiError as err:
        if err.kind is E.CHECKSUM_MISMATCH:  # the same refusal, in the draft's words: a 400
            raise ApiError(
                E.DIGEST_MISMATCH, "the content does not match its Content-Digest; none of it was kept"
            ) from None
        if err.kind is E.OFFSET_MISMATCH:  # it moved meanwhile
            current = await request.app[STREAMS].get(upload.key)
            raise _mismatch(current or upload, offset) from None
        raise


async def create(request: web.Request) -> web.Response:
    """Upload creation: any request content is the representation's beginning (all of it with ?1)."""
    request[envelope.PROBLEM_DETAILS] = True
    complete = fields.parse_boolean(request.headers.get("Upload-Complete"))
    if complete is None:
        raise ApiError(E.BAD_UPLOAD_HEADER, "Upload-Complete must be the structured boolean ?0 or ?1")
    length = fields.parse_integer(request.headers.get("Upload-Length"))
    name = parse_filename(request.headers.get("Content-Disposition", ""))
    info: dict[str, object] = {"protocol": "draft"}
    repr_digest = fields.parse_digest(request.headers.get("Repr-Digest"))
    if repr_digest is not None:  # checked against the whole upload once it is complete
        info["repr_digest"] = [repr_digest.algorithm, repr_digest.value.hex()]
    if (
        complete
        and request.content_length is not None
        and length is not None
        and length != request.content_length
    ):
        raise ApiError(
            E.INCONSISTENT_LENGTH,
            f"Upload-Length is {length}, but the request's content, all of the upload, is {request.content_length}",
        )
    streams = request.app[STREAMS]
    upload = await streams.create(length, name, info, request[CLIENT])
    url = upload_url(request, upload.key)
    await _send_104(request, url, upload)
    created = upload
    upload = await streams.create_with(created.key, lambda: _append(request, created, 0, complete))
    if upload.published is not None:
        return await _completed(request, upload)
    # "the server MUST include the Location response header field ... and MUST include the Upload-Limit"
    return web.Response(status=201, headers=_state(request, upload) | {"Location": url})


async def head(request: web.Request, key: str) -> web.Response:
    upload = await request.app[STREAMS].get(key)
    if upload is None:
        raise ApiError(E.NOT_FOUND, "no upload at this URL: it never existed, was cancelled, or expired")
    # "MUST include the offset ..., the completeness state ..., the length ..., the limits" and "SHOULD include
    # the Cache-Control header field with the value no-store"
    return web.Response(status=204, headers=_state(request, upload) | {"Cache-Control": "no-store"})


async def patch(request: web.Request, key: str) -> web.Response:
    if request.content_type != fields.PARTIAL_UPLOAD:
        raise ApiError(
            E.UNSUPPORTED_MEDIA_TYPE,
            f"appends must be Content-Type: {fields.PARTIAL_UPLOAD}, not {request.content_type!r}",
        )
    offset = fields.parse_integer(request.headers.get("Upload-Offset"))
    complete = fields.parse_boolean(request.headers.get("Upload-Complete"))
    if offset is None or complete is None:
        raise ApiError(
            E.BAD_UPLOAD_HEADER, "an append needs Upload-Offset (an integer) and Upload-Complete (?0 or ?1)"
        )
    upload = await request.app[STREAMS].get(key)
    if upload is None:
        raise ApiError(E.NOT_FOUND, "no upload at this URL: it never existed, was cancelled, or expired")
    if upload.published is not None:
        # "If the upload is already complete, the server MUST NOT modify the upload resource and MUST reject"
        raise ApiError(E.UPLOAD_COMPLETE, "the upload is complete: it takes no more data")
    upload = await _append(request, upload, offset, complete)
    if upload.published is not None:
        return await _completed(request, upload)
    return web.Response(status=204, headers=_state(request, upload))


async def delete(request: web.Request, key: str) -> web.Response:
    await request.app[STREAMS].terminate(key)
    return web.Response(status=204)


async def answer(request: web.Request, handler: Callable[[], Awaitable[web.Response]]) -> web.Response:
    """Run a request on a draft upload resource: its errors are problem details."""
    request[envelope.PROBLEM_DETAILS] = True
    return await handler()
