"""Serving uploaded files: ``GET``/``HEAD /upload/<fileId><ext>``, resumable like every download (RFC 9110).

A file is served only once it is published (complete and verified) and only under an extension a handshake
gave it. Its content never changes (it is named by its MD5), so ``"<fileId>"`` is a perfect strong ETag; its
Last-Modified is the moment it was published. It is offered (Content-Disposition) under the ``name`` in the
URL's query, which the handshake puts in each uploader's own link (``?name=report.pdf``), else as
``<fileId><ext>``: no handshake decides what another uploader's link downloads as. Its ``Repr-Digest`` comes
from ``server.repr_digests`` (computed when the file is first asked for, then kept).
"""

from __future__ import annotations

from aiohttp import web

from server.errors import ApiError, E
from server.file_response import LocalFile, Representation, Source, StreamedFile, content_type_for, respond
from server.keys import UPLOADS
from server.repr_digests import digests_for
from server.rfc.conditionals import EntityTag
from server.uploads.protocol import parse_name, split_upload_path

routes = web.RouteTableDef()


@routes.get("/upload/{tail}")
async def uploaded_file(request: web.Request) -> web.StreamResponse:
    parts = split_upload_path(request.match_info["tail"])
    if parts is None:
        raise ApiError(E.NOT_FOUND, "no such uploaded file")
    file_id, ext = parts
    name = parse_name(request.query.get("name"))  # the same rules as the handshake's name (400 BAD_NAME)
    published = await request.app[UPLOADS].published(file_id, ext)
    if published is None:
        raise ApiError(E.NOT_FOUND, "no such uploaded file")
    source: Source
    stored, size = published.file, published.file.size
    mtime_ns = int(stored.created_at * 1e9)
    if published.path is not None:
        try:
            source = LocalFile.open(published.path)  # an open and an fstat of a local file: on the loop
        except OSError:
            raise ApiError(E.NOT_FOUND, "no such uploaded file") from None
        size, mtime_ns = source.stat.st_size, source.stat.st_mtime_ns
    else:
        source = StreamedFile(published.read)
    etag = f'"{file_id}"'
    rep = Representation(
        size=size,
        etag=EntityTag(etag),
        last_modified=stored.created_at,
        content_type=content_type_for(file_id + ext),
        filename=name or file_id + ext,
        # One digest per file, whatever extension it is offered under.
        digests=digests_for(request.app, f"upload/{file_id}", (etag, size, mtime_ns), source),
    )
    return respond(request, rep, source)
