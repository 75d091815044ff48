"""The routes at ``/files/`` (tusd's default path, so clients' defaults work), where tus 1.0.0 and the IETF
resumable-upload draft (interop version 8) share one collection: a creation request with ``Upload-Complete``
and no ``Tus-Resumable`` speaks the draft, and an upload resource then answers in the protocol that created
it. OPTIONS answers for both. ``X-HTTP-Method-Override`` "MUST be interpreted as the request's method".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.errors import ApiError, E
from server.keys import SETTINGS, STREAMS
from server.resumable import draft, tus, tus_headers
from server.resumable import draft_fields as fields
from server.resumable.bodies import COLLECTION

routes = web.RouteTableDef()
Handler = Callable[[web.Request, str], Awaitable[web.Response]]


async def _options(request: web.Request) -> web.Response:
    """tus: "A successful response ... MUST contain the Tus-Version header" (no Tus-Resumable is checked). The
    draft: "the server MUST include the Accept-Patch header field" with application/partial-upload, and "The
    Upload-Limit header field SHOULD be included"."""
    max_size = request.app[SETTINGS].max_file_bytes
    answer = tus_headers.capabilities(max_size)
    answer["Accept-Patch"] = fields.PARTIAL_UPLOAD
    answer["Upload-Limit"] = fields.format_limits(max_size, None)
    return web.Response(status=204, headers=answer)


def _method(request: web.Request) -> str:
    return request.headers.get("X-HTTP-Method-Override", request.method).strip().upper()


def _not_allowed(method: str, allowed: str, tus: bool) -> ApiError:
    headers = {"Allow": allowed} | ({"Tus-Resumable": tus_headers.TUS_VERSION} if tus else {})
    return ApiError(E.METHOD_NOT_ALLOWED, f"{method} is not allowed here", headers=headers)


def _speaks_draft(request: web.Request) -> bool:
    return "Upload-Complete" in request.headers and "Tus-Resumable" not in request.headers


@routes.route("*", "/files")
@routes.route("*", COLLECTION)
async def collection(request: web.Request) -> web.Response:
    method = _method(request)
    if method == "OPTIONS":
        return await _options(request)
    if method == "POST" and _speaks_draft(request):
        return await draft.create(request)
    if method == "POST":
        return await tus.answer(request, lambda: tus.create(request))
    raise _not_allowed(method, "OPTIONS, POST", tus=not _speaks_draft(request))


@routes.route("*", COLLECTION + "{key}")
async def resource(request: web.Request) -> web.Response:
    method, key = _method(request), request.match_info["key"]
    if method == "OPTIONS":
        return await _options(request)
    upload = await request.app[STREAMS].get(key)
    created_by_draft = (
        upload is not None and request.app[STREAMS].protocol_info(upload).get("protocol") == "draft"
    ) or (upload is None and "Tus-Resumable" not in request.headers)
    handlers: dict[str, Handler] = (
        {"HEAD": draft.head, "PATCH": draft.patch, "DELETE": draft.delete}
        if created_by_draft
        else {"HEAD": tus.head, "PATCH": tus.patch, "DELETE": tus.delete}
    )
    handler = handlers.get(method)
    if handler is None:
        raise _not_allowed(method, "OPTIONS, HEAD, PATCH, DELETE", tus=not created_by_draft)
    if created_by_draft:
        return await draft.answer(request, lambda: handler(request, key))
    return await tus.answer(request, lambda: handler(request, key))
