"""Pure validation of the seed's upload protocol: file ids, chunk ids, extensions, names, the handshake body.

Nothing here does I/O; every function either returns clean values or raises ``ApiError`` with a message that
tells the client what is wrong. The rules themselves (the id grammar, the ``ext``/``name`` rules and limits)
are the wire's, shared with the browser's engine: ``wire.ids`` and ``wire.names``, whose ``WireError`` text
is the message sent; this module adds which error each broken rule is, and the server's own limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.errors import ApiError, E
from wire import ids, names
from wire.errors import WireError, shown, type_name
from wire.ids import MD5_HEX_LEN, ChunkId

__all__ = [
    "ChunkId",
    "Handshake",
    "parse_chunk_id",
    "parse_chunk_ids",
    "parse_ext",
    "parse_file_id",
    "parse_handshake",
    "parse_name",
    "parse_size",
    "split_upload_path",
]


@dataclass(frozen=True)
class Handshake:
    file_id: str
    ext: str
    chunk_ids: tuple[str, ...]
    name: str | None = None
    size: int | None = None


def parse_file_id(value: Any) -> str:
    """The file id, lowercased. A missing or empty id answers the seed's own 403 "请携带文件编号"."""
    if value is None or value == "":
        raise ApiError(E.MISSING_FILE_ID)
    try:
        return ids.parse_file_id(value)
    except WireError as exc:
        raise ApiError(E.BAD_FILE_ID, str(exc)) from None


def parse_chunk_id(value: Any) -> ChunkId:
    try:
        return ids.parse_chunk_id(value)
    except WireError as exc:
        raise ApiError(E.BAD_CHUNK_ID, str(exc)) from None


def parse_chunk_ids(value: Any, max_chunks: int) -> tuple[str, ...]:
    """The chunk list, in file order: each id well-formed, its index equal to its position, none repeated."""
    if not isinstance(value, list):
        raise ApiError(E.BAD_FIELD, f"chunkIds must be an array of chunk ids, got {type_name(value)}")
    if len(value) > max_chunks:
        raise ApiError(
            E.TOO_MANY_CHUNKS, f"the file has {len(value)} chunks; this server accepts at most {max_chunks}"
        )
    try:
        return ids.parse_chunk_list(value)
    except WireError as exc:
        raise ApiError(E.BAD_CHUNK_ID, str(exc)) from None


def parse_ext(value: Any) -> str:
    """The file extension as the seed's ``extname`` gives it: '' or '.' plus a short, path-free suffix."""
    try:
        return names.parse_ext(value)
    except WireError as exc:
        raise ApiError(E.BAD_EXT, str(exc)) from None


def parse_name(value: Any) -> str | None:
    """The original file name (optional), kept for Content-Disposition."""
    try:
        return names.parse_name(value)
    except WireError as exc:
        raise ApiError(E.BAD_NAME, str(exc)) from None


def parse_size(value: Any, max_file_bytes: int) -> int | None:
    """The declared file size (optional); limits apply as soon as it is known."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(
            E.BAD_FIELD, f"size must be a non-negative integer number of bytes, got {shown(value)}"
        )
    if value > max_file_bytes:
        raise ApiError(
            E.FILE_TOO_LARGE, f"the file is {value} bytes; this server accepts at most {max_file_bytes} bytes"
        )
    return value


def parse_handshake(body: Any, *, max_chunks: int, max_file_bytes: int) -> Handshake:
    """Validate a decoded handshake body. Unknown fields are ignored."""
    if not isinstance(body, dict):
        raise ApiError(E.BAD_FIELD, f"the handshake must be a JSON object, got {type_name(body)}")
    file_id = parse_file_id(body.get("fileId"))
    if "chunkIds" not in body:
        raise ApiError(E.BAD_FIELD, "chunkIds is missing: send the array of chunk ids in file order")
    return Handshake(
        file_id=file_id,
        ext=parse_ext(body.get("ext")),
        chunk_ids=parse_chunk_ids(body["chunkIds"], max_chunks),
        name=parse_name(body.get("name")),
        size=parse_size(body.get("size"), max_file_bytes),
    )


def split_upload_path(tail: str) -> tuple[str, str] | None:
    """``<fileId><ext>`` from ``/upload/<tail>`` into (file id, ext), or None if it cannot be one."""
    file_id, ext = tail[:MD5_HEX_LEN], tail[MD5_HEX_LEN:]
    if not ids.is_file_id(file_id):
        return None
    try:
        return file_id.lower(), names.parse_ext(ext)
    except WireError:
        return None
