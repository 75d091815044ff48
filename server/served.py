"""Serving stored files: ``GET``/``HEAD /upload/<fileId><ext>`` (uploaded files).

A file is served only once it is published (complete and verified) and only under an extension a handshake
gave it. Full RFC 9110 range and conditional handling is the downloads module's job.
"""

from __future__ import annotations

from aiohttp import web

from server.errors import ApiError, E
from server.keys import STORAGE
from server.uploads.protocol import split_upload_path

routes = web.RouteTableDef()


@routes.get("/upload/{tail}")
async def uploaded_file(request: web.Request) -> web.StreamResponse:
    parts = split_upload_path(request.match_info["tail"])
    storage = request.app[STORAGE]
    if parts is not None:
        file_id, ext = parts
        stored = await storage.get_file(file_id)
        name = await storage.get_name(file_id, ext)
        if stored is not None and name is not None and stored.path is not None:
            return web.FileResponse(stored.path)
    raise ApiError(E.NOT_FOUND, "no such uploaded file")
