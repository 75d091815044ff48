"""tus 1.0.0's requests on upload resources (``server.resumable.tus_headers`` are its rules): they validate
and translate, ``server.uploads.streams.StreamUploads`` decides. Every answer but OPTIONS carries
``Tus-Resumable``, an error's too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.errors import ApiError, E
from server.keys import SETTINGS, STREAMS
from server.middleware import CLIENT, charge_upload_bytes
from server.resumable import tus_headers as tus
from server.resumable.bodies import COLLECTION, RequestBody, has_body, upload_url
from server.rfc.dates import format_http_date
from server.storage.contract import Upload
from server.uploads.streams import offset_of


def _state(request: web.Request, upload: Upload) -> dict[str, str]:
    """The headers that say where an upload stands."""
    expires = request.app[STREAMS].expires_at(upload)
    return {"Upload-Offset": str(offset_of(upload)), "Upload-Expires": format_http_date(expires)}


def _check_content_type(request: web.Request) -> None:
    """ "All PATCH requests MUST use Content-Type: application/offset+octet-stream, otherwise the server SHOULD
    return a 415 Unsupported Media Type status." """
    if request.content_type != tus.OFFSET_OCTET_STREAM:
        raise ApiError(
            E.UNSUPPORTED_MEDIA_TYPE,
            f"the data must be sent as Content-Type: {tus.OFFSET_OCTET_STREAM}, not {request.content_type!r}",
        )


async def create(request: web.Request) -> web.Response:
    length = tus.parse_size("Upload-Length", request.headers.get("Upload-Length"))
    deferred = tus.parse_defer_length(request.headers.get("Upload-Defer-Length"))
    raw_concat = request.headers.get("Upload-Concat")
    concat = tus.parse_concat(raw_concat, COLLECTION)
    final = concat is not None and not concat.partial
    if final and (length is not None or deferred):
        # "The Client MUST NOT include the Upload-Length header in the final upload creation."
        raise ApiError(E.BAD_UPLOAD_HEADER, "a final upload (Upload-Concat: final) takes no Upload-Length")
    if not final and (length is None) == (not deferred):  # both or neither
        raise ApiError(
            E.BAD_UPLOAD_HEADER,
            "a new upload needs either Upload-Length or Upload-Defer-Length: 1 (not both)",
        )
    raw_metadata = request.headers.get("Upload-Metadata")
    metadata = tus.parse_metadata(raw_metadata)
    name = tus.metadata_text(metadata, "filename") or tus.metadata_text(metadata, "name")
    checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
    with_upload = has_body(request)
    if with_upload:
        _check_content_type(request)
        if final:
            raise ApiError(E.FORBIDDEN, "a final upload (Upload-Concat: final) takes no data")
        if request.content_length:  # the hourly budget, charged before anything is created
            charge_upload_bytes(request, request.content_length)
    streams = request.app[STREAMS]
    info: dict[str, object] = {"protocol": "tus", "metadata": raw_metadata}
    if concat is not None:
        info |= {"concat": "partial" if concat.partial else "final", "concat_header": raw_concat}
    if concat is not None and not concat.partial:
        upload = await streams.concatenate(list(concat.parts), name, info, request[CLIENT])
    else:
        upload = await streams.create(length, name, info, request[CLIENT])
    answer = {"Location": upload_url(request, upload.key), **_state(request, upload)}
    if with_upload:  # creation-with-upload: "similar rules as for the PATCH request and response apply"
        body = RequestBody(request, request.app[SETTINGS].body_timeout_seconds)
        key = upload.key
        upload = await streams.create_with(key, lambda: streams.append(key, 0, body, checksum=checksum))
        answer |= _state(request, upload)
    else:
        del answer["Upload-Offset"]
    return web.Response(status=201, headers=answer)


async def head(request: web.Request, key: str) -> web.Response:
    upload = await request.app[STREAMS].get(key)
    if upload is None:  # "without the Upload-Offset header"
        raise ApiError(E.NOT_FOUND, "no upload at this URL: it never existed, was deleted, or expired")
    answer = _state(request, upload) | {"Cache-Control": "no-store"}
    if upload.size is not None:
        answer["Upload-Length"] = str(upload.size)
    else:  # "As long as the length of the upload is not known, the Server MUST set Upload-Defer-Length: 1"
        answer["Upload-Defer-Length"] = "1"
    info = request.app[STREAMS].protocol_info(upload)
    if info.get("metadata"):  # "responses to HEAD requests MUST include the Upload-Metadata header" as given
        answer["Upload-Metadata"] = str(info["metadata"])
    if info.get("concat_header"):  # "MUST include the Upload-Concat header and its value as received"
        answer["Upload-Concat"] = str(info["concat_header"])
    return web.Response(status=200, headers=answer)


async def patch(request: web.Request, key: str) -> web.Response:
    _check_content_type(request)
    offset = tus.parse_size("Upload-Offset", request.headers.get("Upload-Offset"))
    if offset is None:
        raise ApiError(E.BAD_UPLOAD_HEADER, "Upload-Offset is missing: send the offset HEAD answered")
    length = tus.parse_size("Upload-Length", request.headers.get("Upload-Length"))
    checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
    if request.content_length:  # the hourly budget, charged before the body is read
        charge_upload_bytes(request, request.content_length)
    body = RequestBody(request, request.app[SETTINGS].body_timeout_seconds)
    upload = await request.app[STREAMS].append(key, offset, body, length=length, checksum=checksum)
    if body.timed_out:
        raise ApiError(
            E.BODY_TIMEOUT,
            f"no byte arrived for {request.app[SETTINGS].body_timeout_seconds:g} s; the upload's offset is now "
            f"{offset_of(upload)}",
        )
    return web.Response(status=204, headers=_state(request, upload))


async def delete(request: web.Request, key: str) -> web.Response:
    await request.app[STREAMS].terminate(key)
    return web.Response(status=204)


async def answer(request: web.Request, handler: Callable[[], Awaitable[web.Response]]) -> web.Response:
    """Check the version, run the handler, and say ``Tus-Resumable`` on the answer, an error's too."""
    try:
        tus.check_version(request.headers.get("Tus-Resumable"))
        response = await handler()
    except ApiError as err:
        err.headers.setdefault("Tus-Resumable", tus.TUS_VERSION)
        raise
    response.headers["Tus-Resumable"] = tus.TUS_VERSION
    return response
