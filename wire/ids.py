"""The id grammar: a file is named by its MD5, a chunk by its MD5 followed by its index.

The seed's client computes them with SparkMD5: ``fileId`` is the whole file's MD5 in hex, and a chunk id is
the chunk's MD5 in hex followed by the chunk's 0-based index in decimal (``SparkMD5.ArrayBuffer.hash(chunk) +
chunkIndex``), so the index has no leading zeros; at most 9 digits, more than any server accepts chunks.
Hex digits are accepted in either case and kept in lower case. A handshake lists the chunk ids in file
order: the id at position i ends with i.

Parsers take a decoded JSON value (anything) and return plain values, or raise ``WireError`` with the
message a client is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from wire.errors import WireError, shown

MD5_HEX_LEN: Final = 32
FILE_ID_PATTERN: Final = "[0-9a-fA-F]{32}"
# 32 hex digits, then the index in decimal without leading zeros (what JavaScript's `md5 + index` gives).
CHUNK_ID_PATTERN: Final = "([0-9a-fA-F]{32})(0|[1-9][0-9]{0,8})"

_FILE_ID: Final = re.compile(FILE_ID_PATTERN)
_CHUNK_ID: Final = re.compile(CHUNK_ID_PATTERN)


@dataclass(frozen=True)
class ChunkId:
    md5: str  # lowercase hex
    index: int

    def __str__(self) -> str:
        return chunk_id(self.md5, self.index)


def chunk_id(md5_hex: str, index: int) -> str:
    """``SparkMD5.ArrayBuffer.hash(chunk) + chunkIndex``: lowercase hex digest, then the index in decimal."""
    return f"{md5_hex.lower()}{index}"


def is_file_id(value: Any) -> bool:
    return isinstance(value, str) and _FILE_ID.fullmatch(value) is not None


def parse_file_id(value: Any) -> str:
    """The file id in lower case. (A missing one is the server's business: it answers the seed's 403.)"""
    if not is_file_id(value):
        raise WireError(f"fileId must be 32 hexadecimal digits (the file's MD5), got {shown(value)}")
    return str(value).lower()


def parse_chunk_id(value: Any) -> ChunkId:
    if not isinstance(value, str) or not value:
        raise WireError(f"chunkId is missing or not a string, got {shown(value)}")
    match = _CHUNK_ID.fullmatch(value)
    if match is None:
        raise WireError(
            f"chunkId must be 32 hex digits (the chunk's MD5) followed by its index, got {shown(value)}"
        )
    return ChunkId(match.group(1).lower(), int(match.group(2)))


def parse_chunk_list(values: list[Any]) -> tuple[str, ...]:
    """A handshake's chunk ids, in file order: each well-formed, its index equal to its position."""
    ids: list[str] = []
    for position, raw in enumerate(values):
        chunk = parse_chunk_id(raw)
        if chunk.index != position:
            raise WireError(
                f"chunkIds[{position}] ends with index {chunk.index}; the chunk at position {position} "
                f"must end with {position}"
            )
        ids.append(str(chunk))
    # Indices equal positions, so a repeated id is impossible; kept explicit for a clear answer.
    if len(set(ids)) != len(ids):
        raise WireError("chunkIds contains the same chunk id twice")
    return tuple(ids)
