"""The downloads folder: ``GET``/``HEAD /download/<name>`` (resumable, RFC 9110) and ``GET /api/files``.

Only regular files directly in the folder are served; there are no subfolders, so ``<name>`` is one path
segment (percent-encoded in URLs; Unicode names are normal). A name is refused (404) when it is empty, starts
with a dot (hidden files, including what an atomic writer leaves while it works), or contains ``/``, ``\\``,
NUL or any other control character; after resolving symbolic links the file must still be inside the folder.
The folder is created at start-up when missing.

Writers should replace files by renaming a complete new file over the old one: a download in progress then
keeps sending the old bytes (see ``server.file_response``), and resuming it with ``If-Range`` starts over.
A file's ``Repr-Digest`` comes from ``server.repr_digests``: computed when it is first asked for, and again
for each new version (a new ETag).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import re
import stat
import time
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from aiohttp import web

from server import envelope, repr_digests
from server.errors import ApiError, E
from server.file_response import LocalFile, Representation, content_type_for, respond
from server.keys import SETTINGS
from server.repr_digests import digests_for
from server.rfc.conditionals import EntityTag
from server.rfc.dates import format_http_date

MAX_NAME_BYTES = 255  # NAME_MAX of Linux file systems
_CONTROL = re.compile("[\x00-\x1f\x7f]")

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    """Register the routes, and create the downloads folder when the server starts.

    Also sets up the digests kept for every file served, the downloads folder's and the uploaded ones
    (``server.repr_digests``; setting it up again, from the application factory, does nothing).
    """
    app.add_routes(routes)
    app.on_startup.append(_create_folder)
    repr_digests.setup(app, app[SETTINGS].data_dir / "digests")


async def _create_folder(app: web.Application) -> None:
    app[SETTINGS].downloads_path.mkdir(parents=True, exist_ok=True)


def is_plain_name(name: str) -> bool:
    """Whether ``name`` can only mean a file directly in the folder (no traversal, nothing hidden)."""
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        return False
    if _CONTROL.search(name):
        return False
    try:
        return len(name.encode("utf-8")) <= MAX_NAME_BYTES
    except UnicodeEncodeError:  # undecodable bytes in a file system name
        return False


def etag_for(st: os.stat_result) -> EntityTag:
    """A strong ETag that changes when the file does: size, modification time (ns) and inode (a rename)."""
    return EntityTag(f'"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"')


def _resolve_inside(folder: Path, name: str) -> Path | None:
    """The real path of ``folder/name`` if it exists and lies inside ``folder`` (blocking)."""
    root = folder.resolve()
    try:
        real = (root / name).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, ...
        return None
    return real if real.is_relative_to(root) and real != root else None


def open_download(folder: Path, name: str) -> LocalFile | None:
    """Open a file of the downloads folder, or None when ``name`` must not or cannot be served (blocking)."""
    if not is_plain_name(name):
        return None
    real = _resolve_inside(folder, name)
    if real is None:
        return None
    try:
        return LocalFile.open(real)  # O_NOFOLLOW: a link swapped in since the resolve is refused
    except OSError:
        return None


@functools.lru_cache(maxsize=16)
def _real_folder(folder: Path) -> str:
    """The folder's real path, resolved once (it is configuration; it exists once the server has started)."""
    return str(folder.resolve())


def open_plain_file(folder: Path, name: str) -> LocalFile | None | Literal["link"]:
    """Open ``folder/name`` when it is a regular file that is not a symbolic link: fast, so it runs on the
    event loop (an ``open`` and an ``fstat`` of a local file).

    The folder's path is real (resolved) and ``name`` is one plain segment, so ``O_NOFOLLOW`` on the last
    component leaves nothing to resolve: the file is inside the folder. A symbolic link answers ``"link"``:
    it needs the full check of ``open_download`` (in a thread).
    """
    if not is_plain_name(name):
        return None
    try:
        return LocalFile.open(_real_folder(folder) + "/" + name)
    except OSError as exc:
        return "link" if exc.errno == errno.ELOOP else None


@routes.get("/download/{name}")
async def download(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    folder = request.app[SETTINGS].downloads_path
    opened = open_plain_file(folder, name)
    if opened == "link":
        opened = await asyncio.to_thread(open_download, folder, name)
    if not isinstance(opened, LocalFile):
        raise ApiError(E.NOT_FOUND, "no such file in the downloads folder")
    st = opened.stat  # fstat of the open file: the validators describe exactly the bytes that will be sent
    etag = etag_for(st)
    rep = Representation(
        size=st.st_size,
        etag=etag,
        last_modified=st.st_mtime,
        content_type=content_type_for(name),
        filename=name,
        digests=digests_for(
            request.app, f"download/{name}", (etag.opaque, st.st_size, st.st_mtime_ns), opened
        ),
    )
    return respond(request, rep, opened)


def download_url(request: web.Request, name: str) -> str:
    """The absolute URL of a file of the downloads folder (like ``server.uploads.handlers.file_url``)."""
    base = request.app[SETTINGS].public_url.rstrip("/") or str(request.url.origin())
    return f"{base}/download/{quote(name, safe='')}"


def _list_folder(folder: Path) -> list[tuple[str, os.stat_result]]:
    """(name, stat) of every file ``/download/<name>`` would serve, by name (blocking)."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        if not is_plain_name(entry.name):
            continue
        try:
            if entry.is_symlink():
                real = _resolve_inside(folder, entry.name)
                if real is None:
                    continue
                st = os.stat(real)
            else:
                st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((entry.name, st))
    return sorted(found)


@routes.get("/api/files")
async def list_files(request: web.Request) -> web.Response:
    """The downloadable files: ``[{name, size, etag, lastModified, url}]`` in the seed's envelope.

    ``etag`` and ``lastModified`` are exactly the ``ETag`` and ``Last-Modified`` a download answers with, so a
    client may use them in ``If-Range`` straight away.
    """
    files = await asyncio.to_thread(_list_folder, request.app[SETTINGS].downloads_path)
    now = time.time()  # a modification time in the future is shown as now, as Last-Modified is
    return envelope.ok(
        [
            {
                "name": name,
                "size": st.st_size,
                "etag": str(etag_for(st)),
                "lastModified": format_http_date(min(st.st_mtime, now)),
                "url": download_url(request, name),
            }
            for name, st in files
        ]
    )
