"""The names of the server's errors, the exception a broken wire rule raises, and how messages show values.

``ErrorName`` lists the stable ``error`` field of every error answer (``{code, msg, data, error}``): the
names programs match on, the engine's ``retry.classify`` among them. The server's catalogue
(``server/errors.py``: status and default message of each) is checked against this list when it is
imported, so a name cannot change on one side only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorName(StrEnum):
    """Every ``error`` name the server answers with; each value is its own name."""

    MISSING_FILE_ID = "MISSING_FILE_ID"
    BAD_JSON = "BAD_JSON"
    BAD_FORM = "BAD_FORM"
    INCOMPLETE_BODY = "INCOMPLETE_BODY"
    BODY_TIMEOUT = "BODY_TIMEOUT"
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    BAD_FIELD = "BAD_FIELD"
    BAD_FILE_ID = "BAD_FILE_ID"
    BAD_CHUNK_ID = "BAD_CHUNK_ID"
    BAD_EXT = "BAD_EXT"
    BAD_NAME = "BAD_NAME"
    UNKNOWN_UPLOAD = "UNKNOWN_UPLOAD"  # the server lost or expired the upload: handshake again
    UNKNOWN_CHUNK = "UNKNOWN_CHUNK"
    CHUNK_LIST_CONFLICT = "CHUNK_LIST_CONFLICT"
    CHUNK_MISMATCH = "CHUNK_MISMATCH"  # a chunk arrived damaged and was not stored: send it again
    CHUNKS_DAMAGED = "CHUNKS_DAMAGED"  # stored chunks found damaged at assembly (``data``): send them again
    FILE_MISMATCH = "FILE_MISMATCH"
    CHUNK_TOO_LARGE = "CHUNK_TOO_LARGE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    TOO_MANY_CHUNKS = "TOO_MANY_CHUNKS"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    TOO_MANY_UPLOADS = "TOO_MANY_UPLOADS"
    RATE_LIMITED = "RATE_LIMITED"
    INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
    TUS_VERSION = "TUS_VERSION"
    BAD_UPLOAD_HEADER = "BAD_UPLOAD_HEADER"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    OFFSET_MISMATCH = "OFFSET_MISMATCH"
    UPLOAD_LOCKED = "UPLOAD_LOCKED"
    PAST_UPLOAD_LENGTH = "PAST_UPLOAD_LENGTH"
    BAD_CHECKSUM_ALGORITHM = "BAD_CHECKSUM_ALGORITHM"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    UPLOAD_COMPLETE = "UPLOAD_COMPLETE"
    INCONSISTENT_LENGTH = "INCONSISTENT_LENGTH"
    BAD_REQUEST = "BAD_REQUEST"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    RANGE_NOT_SATISFIABLE = "RANGE_NOT_SATISFIABLE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    MISDIRECTED_HOST = "MISDIRECTED_HOST"
    UNHEALTHY = "UNHEALTHY"
    BAD_EMBED_OPTION = "BAD_EMBED_OPTION"
    TOKEN_REQUIRED = "TOKEN_REQUIRED"  # --auth-secret: no token (401)
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # ask the host application for a new token
    TOKEN_FORBIDDEN = "TOKEN_FORBIDDEN"  # a valid token, for another scope, file or size (403)
    PROOF_REQUIRED = "PROOF_REQUIRED"  # an instant upload: prove the bytes (``wire.possession``), 428
    PROOF_MISMATCH = "PROOF_MISMATCH"
    INTERNAL = "INTERNAL"


class WireError(ValueError):
    """A value breaks a wire rule; ``str(error)`` says which and how, in words a client can be shown."""


def type_name(value: Any) -> str:
    """What a decoded JSON value is, in words: ``"an object"``, ``"an array"``, ``"null"``..."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def shown(value: Any) -> str:
    """A refused value as a message quotes it: a string in quotes (its first 80 characters), else its type."""
    if isinstance(value, str):
        return repr(value[:80] + ("..." if len(value) > 80 else ""))
    return type_name(value)
