"""Pure validation of the seed's upload protocol: file ids, chunk ids, extensions, names, the handshake body.

Nothing here does I/O; every function either returns clean values or raises ``ApiError`` with a message that
tells the client what is wrong. The rules follow the seed's client, which computes ids with SparkMD5:
``fileId`` is the whole file's MD5 in hex, and a chunk id is the chunk's MD5 in hex followed by the chunk's
0-based index in decimal (``SparkMD5.ArrayBuffer.hash(chunk) + chunkIndex``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from server.errors import ApiError, E

MD5_HEX_LEN = 32
MAX_EXT_CHARS = 16
MAX_NAME_CHARS = 255

_FILE_ID = re.compile(r"[0-9a-fA-F]{32}")
# 32 hex digits, then the index in decimal without leading zeros (what JavaScript's `md5 + index` gives).
_CHUNK_ID = re.compile(r"([0-9a-fA-F]{32})(0|[1-9][0-9]{0,8})")


@dataclass(frozen=True)
class ChunkId:
    md5: str  # lowercase hex
    index: int

    def __str__(self) -> str:
        return f"{self.md5}{self.index}"


@dataclass(frozen=True)
class Handshake:
    file_id: str
    ext: str
    chunk_ids: tuple[str, ...]
    name: str | None = None
    size: int | None = None


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in text)


def _check_unicode(kind: E, field: str, text: str) -> None:
    """JSON can carry a lone surrogate (``"\\ud800"``), which is no character and cannot be stored as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(
            kind, f"{field} is not valid Unicode text: it holds a lone surrogate at position {exc.start}"
        ) from None


def parse_file_id(value: Any) -> str:
    """The file id, lowercased. A missing or empty id answers the seed's own 403 "请携带文件编号"."""
    if value is None or value == "":
        raise ApiError(E.MISSING_FILE_ID)
    if not isinstance(value, str) or not _FILE_ID.fullmatch(value):
        raise ApiError(
            E.BAD_FILE_ID, f"fileId must be 32 hexadecimal digits (the file's MD5), got {_show(value)}"
        )
    return value.lower()


def parse_chunk_id(value: Any) -> ChunkId:
    if not isinstance(value, str) or not value:
        raise ApiError(E.BAD_CHUNK_ID, f"chunkId is missing or not a string, got {_show(value)}")
    match = _CHUNK_ID.fullmatch(value)
    if match is None:
        raise ApiError(
            E.BAD_CHUNK_ID,
            f"chunkId must be 32 hex digits (the chunk's MD5) followed by its index, got {_show(value)}",
        )
    return ChunkId(match.group(1).lower(), int(match.group(2)))


def parse_chunk_ids(value: Any, max_chunks: int) -> tuple[str, ...]:
    """The chunk list, in file order: each id well-formed, its index equal to its position, none repeated."""
    if not isinstance(value, list):
        raise ApiError(E.BAD_FIELD, f"chunkIds must be an array of chunk ids, got {_type_name(value)}")
    if len(value) > max_chunks:
        raise ApiError(
            E.TOO_MANY_CHUNKS, f"the file has {len(value)} chunks; this server accepts at most {max_chunks}"
        )
    ids: list[str] = []
    for position, raw in enumerate(value):
        chunk = parse_chunk_id(raw)
        if chunk.index != position:
            raise ApiError(
                E.BAD_CHUNK_ID,
                f"chunkIds[{position}] ends with index {chunk.index}; the chunk at position {position} "
                f"must end with {position}",
            )
        ids.append(str(chunk))
    # Indices equal positions, so a repeated id is impossible; kept explicit for a clear answer.
    if len(set(ids)) != len(ids):
        raise ApiError(E.BAD_CHUNK_ID, "chunkIds contains the same chunk id twice")
    return tuple(ids)


def parse_ext(value: Any) -> str:
    """The file extension as the seed's ``extname`` gives it: '' or '.' plus a short, path-free suffix."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(E.BAD_EXT, f'ext must be a string such as ".jpg", got {_type_name(value)}')
    if value == "":
        return ""
    _check_unicode(E.BAD_EXT, "ext", value)
    if len(value) > MAX_EXT_CHARS:
        raise ApiError(E.BAD_EXT, f"ext is {len(value)} characters long; at most {MAX_EXT_CHARS} are allowed")
    if not value.startswith("."):
        raise ApiError(E.BAD_EXT, f"ext must start with a dot, got {_show(value)}")
    if "/" in value or "\\" in value or ".." in value or _has_control(value):
        raise ApiError(
            E.BAD_EXT, f"ext must not contain '/', '\\', '..' or control characters, got {_show(value)}"
        )
    return value


def parse_name(value: Any) -> str | None:
    """The original file name (optional), kept for Content-Disposition."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(E.BAD_NAME, f"name must be a string, got {_type_name(value)}")
    _check_unicode(E.BAD_NAME, "name", value)
    if (
        len(value) > MAX_NAME_CHARS
        or "/" in value
        or "\\" in value
        or _has_control(value)
        or value in {".", ".."}
    ):
        raise ApiError(
            E.BAD_NAME,
            f"name must be a plain file name of at most {MAX_NAME_CHARS} characters without '/', '\\' or "
            "control characters",
        )
    return value


def parse_size(value: Any, max_file_bytes: int) -> int | None:
    """The declared file size (optional); limits apply as soon as it is known."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(
            E.BAD_FIELD, f"size must be a non-negative integer number of bytes, got {_show(value)}"
        )
    if value > max_file_bytes:
        raise ApiError(
            E.FILE_TOO_LARGE, f"the file is {value} bytes; this server accepts at most {max_file_bytes} bytes"
        )
    return value


def parse_handshake(body: Any, *, max_chunks: int, max_file_bytes: int) -> Handshake:
    """Validate a decoded handshake body. Unknown fields are ignored."""
    if not isinstance(body, dict):
        raise ApiError(E.BAD_FIELD, f"the handshake must be a JSON object, got {_type_name(body)}")
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
    if len(tail) < MD5_HEX_LEN or not _FILE_ID.fullmatch(tail[:MD5_HEX_LEN]):
        return None
    try:
        ext = parse_ext(tail[MD5_HEX_LEN:])
    except ApiError:
        return None
    return tail[:MD5_HEX_LEN].lower(), ext


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:80] + ("..." if len(value) > 80 else ""))
    return _type_name(value)
