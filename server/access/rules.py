"""Which requests need a token and what the token must allow (pure: facts of a request in, a refusal out).

Protected, by route (aiohttp's canonical path of the matched resource), with the scope their token needs:

- ``POST /api/upload/handshake`` (upload): the file and its declared size, by the handshake's handler once
  the body is read (``check_upload``); then, for a file already stored, the proof of possession;
- ``POST /api/upload``, chunks (upload): the scope; the file was checked by the handshake that opened the
  upload, and the chunks are bounded by the size it declared;
- ``/files``, ``/files/{key}``, tus and the draft (upload): the token names no single file (the MD5 is known
  only at the end); ``Upload-Length``, and offset + ``Content-Length`` of each request with data, within
  ``max``;
- ``GET``/``HEAD /upload/{tail}`` (download): the file, the MD5 in the path;
- ``GET``/``HEAD /download/{name}`` (download): the name;
- ``GET``/``HEAD /api/files`` (download): ``name`` is ``*`` (the listing shows every name).

Everything else stays open: the page and its assets, the embed, health, metrics, the OpenAPI document, and
OPTIONS (CORS preflights, tus's discovery), which ask about the server, not for a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from server.access.bearer import Problem, challenge
from server.access.tokens import ANY, Grant, Scope
from server.errors import ApiError, E


class Target(Enum):
    """What a protected route serves."""

    HANDSHAKE = "handshake"
    CHUNK = "chunk"
    STREAM = "stream"  # tus 1.0.0 and the IETF draft at /files/
    UPLOADED_FILE = "uploaded file"  # /upload/<fileId><ext>
    FOLDER_FILE = "downloads folder file"  # /download/<name>
    FOLDER_LIST = "downloads folder listing"  # /api/files


@dataclass(frozen=True)
class Guard:
    target: Target
    scope: Scope

    @property
    def is_download(self) -> bool:
        """Downloads: a plain link may carry the token in ``?token=``, and answers are private to caches."""
        return self.scope is Scope.DOWNLOAD


GUARDS: Final = {
    "/api/upload/handshake": Guard(Target.HANDSHAKE, Scope.UPLOAD),
    "/api/upload": Guard(Target.CHUNK, Scope.UPLOAD),
    "/files": Guard(Target.STREAM, Scope.UPLOAD),
    "/files/": Guard(Target.STREAM, Scope.UPLOAD),
    "/files/{key}": Guard(Target.STREAM, Scope.UPLOAD),
    "/upload/{tail}": Guard(Target.UPLOADED_FILE, Scope.DOWNLOAD),
    "/download/{name}": Guard(Target.FOLDER_FILE, Scope.DOWNLOAD),
    "/api/files": Guard(Target.FOLDER_LIST, Scope.DOWNLOAD),
}


def guard_for(method: str, route: str | None) -> Guard | None:
    """The guard of a request to ``route`` (a canonical path; None: no route matched); None: it is open."""
    if method == "OPTIONS" or route is None:
        return None
    return GUARDS.get(route)


def forbidden(message: str) -> ApiError:
    """403 TOKEN_FORBIDDEN. RFC 6750 section 3.1, insufficient_scope: "The resource server SHOULD respond with
    the HTTP 403 (Forbidden) status code"."""
    header = challenge(Problem.INSUFFICIENT_SCOPE, message)
    return ApiError(E.TOKEN_FORBIDDEN, message, headers={"WWW-Authenticate": header})


def check_scope(grant: Grant, guard: Guard) -> None:
    if grant.scope is not guard.scope:
        raise forbidden(
            f"this is a {grant.scope} token; {guard.target.value} requests need a {guard.scope} token"
        )


def check_upload(grant: Grant, file_id: str, size: int | None) -> None:
    """A handshake for ``file_id`` declaring ``size`` (None: not declared)."""
    if not grant.allows_file(file_id):
        raise forbidden(f"the token is for another file than {file_id}")
    if grant.max_size is None:
        return
    if size is None:
        raise forbidden(
            f"the token allows files of at most {grant.max_size} bytes: the handshake must declare size"
        )
    if not grant.allows_size(size):
        raise forbidden(f"the file is {size} bytes; the token allows at most {grant.max_size} bytes")


def check_uploaded_file(grant: Grant, file_id: str) -> None:
    if not grant.allows_file(file_id):  # a download token without "file" allows none
        raise forbidden(f"the token does not allow downloading the file {file_id}")


def check_folder_file(grant: Grant, name: str) -> None:
    if not grant.allows_name(name):
        raise forbidden("the token does not allow downloading this file of the downloads folder")


def check_folder_list(grant: Grant) -> None:
    if grant.name != ANY:
        raise forbidden("listing the downloads folder needs a download token with name '*'")


def _whole(text: str | None) -> int | None:
    """A header's non-negative integer, or None (a malformed one is the protocol handler's to refuse)."""
    return int(text) if text is not None and text.strip().isdigit() else None


def check_stream(
    grant: Grant,
    *,
    upload_length: str | None,
    upload_offset: str | None,
    content_length: int | None,
    chunked: bool,
) -> None:
    """A request to ``/files/``: the token covers any file, and the upload stays within ``max``.

    Appends start at the upload's offset (the protocol handlers refuse any other), so bounding where each
    request's data ends bounds the whole upload, whether its length was declared or deferred."""
    if grant.file not in (None, ANY):
        raise forbidden(
            "a token for one file cannot upload at /files/, where the file's MD5 is known only at the end: "
            "ask for a token with file '*'"
        )
    if grant.max_size is None:
        return
    length = _whole(upload_length)
    if length is not None and length > grant.max_size:
        raise forbidden(f"Upload-Length is {length} bytes; the token allows at most {grant.max_size} bytes")
    if content_length is None and chunked:
        raise forbidden(f"the token allows at most {grant.max_size} bytes: send Content-Length with the data")
    end = (_whole(upload_offset) or 0) + (content_length or 0)
    if end > grant.max_size:
        raise forbidden(f"this data ends at byte {end}; the token allows at most {grant.max_size} bytes")
