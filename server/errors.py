"""The error catalogue: every error the server can answer, as a value with a code, a status and a message.

Handlers and services raise ``ApiError(kind, detail)``; one middleware (``server.middleware``) renders it.
API answers keep the seed's envelope ``{code, msg, data}`` where ``code`` equals the HTTP status and ``data``
is null, plus an ``error`` field with the stable machine-readable name (the seed's client ignores fields it
does not know). The names are the wire's (``wire.errors.ErrorName``, which the browser's engine matches on):
importing this module fails if the two lists differ. Two errors put chunk ids in ``data``, because the
seed's client reads ``data`` as the chunks it must send next: ``CHUNK_MISMATCH`` (the ids still needed, the
refused chunk among them) and ``CHUNKS_DAMAGED`` (the damaged chunks).
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass
from enum import Enum

from server.storage.cluster.errors import DependencyUnavailable
from wire.errors import ErrorName

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DEPENDENCY_RETRY_AFTER = 2  # seconds, in a 503 for PostgreSQL or S3 out of reach: they restart in seconds
_SQLITE_FULL = 13  # "Insertion failed because database is full" (the primary result code)


@dataclass(frozen=True)
class ErrorKind:
    status: int
    message: str  # default human text; a raise site may give a more specific one


class E(Enum):
    """The catalogue. The member name is the stable ``error`` field sent to clients (an ``ErrorName``)."""

    # The seed's own answer for a request without a file id, word for word.
    MISSING_FILE_ID = ErrorKind(403, "请携带文件编号")
    BAD_JSON = ErrorKind(400, "the body is not valid JSON")
    BAD_FORM = ErrorKind(400, "the body is not a valid multipart/form-data form")
    INCOMPLETE_BODY = ErrorKind(400, "the request body ended before it was complete; nothing was stored")
    BODY_TIMEOUT = ErrorKind(408, "the request body stopped arriving; nothing was stored")
    TOO_MANY_CONNECTIONS = ErrorKind(
        503, "the server has as many connections open as it takes; try again soon"
    )
    BAD_FIELD = ErrorKind(400, "a field is missing or has the wrong type")
    BAD_FILE_ID = ErrorKind(400, "fileId must be 32 hexadecimal digits (the file's MD5)")
    BAD_CHUNK_ID = ErrorKind(400, "chunkId must be the chunk's MD5 (32 hex digits) followed by its index")
    BAD_EXT = ErrorKind(400, "ext must be empty or a dot followed by at most 15 safe characters")
    BAD_NAME = ErrorKind(400, "name must be a plain file name")
    UNKNOWN_UPLOAD = ErrorKind(404, "no upload in progress for this fileId: send the handshake first")
    UNKNOWN_CHUNK = ErrorKind(409, "this chunkId is not in the file's chunk list")
    CHUNK_LIST_CONFLICT = ErrorKind(
        409, "too many uploads of this file with other chunk lists are in progress"
    )
    CHUNK_MISMATCH = ErrorKind(
        422, "the chunk's bytes do not match its chunkId; it was not stored, send it again"
    )
    CHUNKS_DAMAGED = ErrorKind(422, "some chunks do not match their chunkId; handshake again and send them")
    FILE_MISMATCH = ErrorKind(422, "the assembled file does not match fileId; the upload was discarded")
    CHUNK_TOO_LARGE = ErrorKind(413, "the chunk is larger than the server accepts")
    FILE_TOO_LARGE = ErrorKind(413, "the file is larger than the server accepts")
    TOO_MANY_CHUNKS = ErrorKind(413, "the file has more chunks than the server accepts")
    BODY_TOO_LARGE = ErrorKind(413, "the request body is larger than the server accepts")
    TOO_MANY_UPLOADS = ErrorKind(429, "too many uploads are in progress; try again later")
    RATE_LIMITED = ErrorKind(429, "too many requests from this client; try again after Retry-After seconds")
    INSUFFICIENT_STORAGE = ErrorKind(507, "the server's disk is full; nothing was stored, try again later")
    DEPENDENCY_UNAVAILABLE = ErrorKind(
        503,
        "a service the server stores with (PostgreSQL, S3) is unavailable; nothing was lost, try again soon",
    )
    # tus 1.0 and the IETF resumable-upload draft (server/resumable/).
    TUS_VERSION = ErrorKind(412, "this server speaks tus 1.0.0 only (see Tus-Version)")
    BAD_UPLOAD_HEADER = ErrorKind(400, "an Upload-* header is missing or malformed")
    UNSUPPORTED_MEDIA_TYPE = ErrorKind(415, "appends must be Content-Type: application/offset+octet-stream")
    OFFSET_MISMATCH = ErrorKind(409, "Upload-Offset is not the upload's offset; ask for it with HEAD")
    UPLOAD_LOCKED = ErrorKind(423, "another request is appending to this upload; try again once it ended")
    PAST_UPLOAD_LENGTH = ErrorKind(413, "the data goes past the upload's length; nothing past it was kept")
    BAD_CHECKSUM_ALGORITHM = ErrorKind(400, "the Upload-Checksum algorithm is not one this server supports")
    CHECKSUM_MISMATCH = ErrorKind(460, "the data does not match Upload-Checksum; none of it was kept")
    DIGEST_MISMATCH = ErrorKind(
        400, "the data does not match its Content-Digest or Repr-Digest; none was kept"
    )
    UPLOAD_COMPLETE = ErrorKind(400, "the upload is complete: it takes no more data")
    INCONSISTENT_LENGTH = ErrorKind(400, "the upload's length values do not agree")
    BAD_REQUEST = ErrorKind(400, "bad request")
    FORBIDDEN = ErrorKind(403, "forbidden")
    NOT_FOUND = ErrorKind(404, "not found")
    PRECONDITION_FAILED = ErrorKind(412, "a precondition (If-Match or If-Unmodified-Since) does not hold")
    RANGE_NOT_SATISFIABLE = ErrorKind(416, "no requested range overlaps the file")
    METHOD_NOT_ALLOWED = ErrorKind(405, "method not allowed")
    ORIGIN_NOT_ALLOWED = ErrorKind(403, "this origin is not allowed to use the API")
    MISDIRECTED_HOST = ErrorKind(421, "this server does not answer for that host name")
    UNHEALTHY = ErrorKind(503, "the server cannot store uploads now")
    BAD_EMBED_OPTION = ErrorKind(400, "an option of the embedded uploader is not valid")
    # --auth-secret mode (server/access/): tokens (RFC 6750, 401 and 403 with WWW-Authenticate: Bearer) and
    # the proof of possession an instant upload needs.
    TOKEN_REQUIRED = ErrorKind(
        401, "this server requires a token (Authorization: Bearer, or ?token= on downloads)"
    )
    TOKEN_INVALID = ErrorKind(401, "the token is not valid: malformed, or not signed by this server's secret")
    TOKEN_EXPIRED = ErrorKind(401, "the token has expired; ask the application for a new one")
    TOKEN_FORBIDDEN = ErrorKind(403, "the token does not allow this request (another scope, file or size)")
    PROOF_REQUIRED = ErrorKind(
        428, "this file is already stored: send the handshake again with proof of the bytes in data"
    )
    PROOF_MISMATCH = ErrorKind(403, "the proof does not match the stored file's bytes")
    INTERNAL = ErrorKind(500, "internal server error")

    @property
    def status(self) -> int:
        return self.value.status

    @property
    def message(self) -> str:
        return self.value.message


def _check_names() -> None:
    """Every entry has a wire name and every wire name an entry: a name cannot drift on one side only."""
    ours, wire = {kind.name for kind in E}, set(ErrorName)
    if ours != wire:
        raise ImportError(
            f"server.errors.E and wire.errors.ErrorName differ: only here {sorted(ours - wire)}, "
            f"only in wire {sorted(wire - ours)}"
        )


_check_names()


class ApiError(Exception):
    """An error answer: a catalogue entry and, optionally, a message more specific than its default."""

    def __init__(
        self, kind: E, msg: str | None = None, data: object = None, headers: dict[str, str] | None = None
    ) -> None:
        self.kind = kind
        self.msg = msg if msg is not None else kind.message
        self.data = data  # the envelope's ``data``: None but for errors that list what they are about
        self.headers = headers or {}  # fields the answer carries, e.g. Retry-After
        super().__init__(f"{kind.name}: {self.msg}")

    @property
    def status(self) -> int:
        return self.kind.status

    @classmethod
    def from_status(cls, status: int, reason: str) -> ApiError:
        """An error for a bare HTTP status raised by aiohttp itself (router 404/405, body limits)."""
        kind = _BY_STATUS.get(status, E.BAD_REQUEST)
        # aiohttp's 413 text says which limit was hit; its 404/405 texts say less than ours.
        return cls(kind, reason if kind in (E.BODY_TOO_LARGE, E.BAD_REQUEST) else kind.message)

    @classmethod
    def from_server_condition(cls, exc: BaseException) -> ApiError | None:
        """The answer for an exception that is a condition of the server, not a bug: a full disk (``ENOSPC``,
        ``EDQUOT``, SQLite's ``SQLITE_FULL``) is 507; PostgreSQL or S3 out of reach is 503 with
        ``Retry-After``. None for anything else."""
        if isinstance(exc, DependencyUnavailable):
            return cls(
                E.DEPENDENCY_UNAVAILABLE,
                f"{exc}: nothing of this request was lost, send it again",
                headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER)},
            )
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            reason = exc.strerror or "no space left on device"
        elif isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == _SQLITE_FULL:
            reason = str(exc)
        else:
            return None
        return cls(
            E.INSUFFICIENT_STORAGE,
            f"the server's disk is full ({reason}); nothing of this request was stored, try again later",
        )

    def envelope(self) -> dict[str, object]:
        return {"code": self.status, "msg": self.msg, "data": self.data, "error": self.kind.name}


_PLAIN = (E.BODY_TOO_LARGE, E.FORBIDDEN, E.NOT_FOUND, E.METHOD_NOT_ALLOWED, E.INTERNAL)
_BY_STATUS = {kind.status: kind for kind in _PLAIN}
