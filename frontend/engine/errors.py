"""The engine's error catalogue: every way an upload or a download can go wrong, as a value with a stable
code.

The engine runs in the browser (Pyodide) and cannot import ``server.errors``; this is the client-side
counterpart, built the same way: one ``ErrorKind`` per catalogue entry, one exception type carrying it.

Tree::

    EngineError                 every error the engine raises or reports; ``.kind`` is an ``Err`` member
    ├── TransportError          the request never got an HTTP answer (offline, DNS, reset, timeout, CORS),
    │                           or a download's body stopped before its end. Transports raise it; the
    │                           browser maps a failed ``fetch`` (or body read) to it.
    ├── ServerError             the server answered an error envelope ``{code, msg, data, error}``;
    │                           ``.status`` is the HTTP status, ``.server_error`` the server's stable name
    │                           (a ``wire.errors.ErrorName``, e.g. ``CHUNKS_DAMAGED``), ``.msg`` its message
    └── IllegalTransition       a state change the transition table does not allow (a programming error)

An HTTP status is data until the engine decides what it means: ``retry.classify`` is where that is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class ErrorKind:
    message: str  # default human text; a raise site may give a more specific one
    retryable: bool = False


class Err(Enum):
    """The catalogue. The member name is the stable code shown to the UI (``UploadSnapshot.error_code``)."""

    NETWORK = ErrorKind("the server could not be reached", retryable=True)
    SERVER = ErrorKind(
        "the server answered with an error", retryable=False
    )  # retryable per status, see retry.py
    BAD_RESPONSE = ErrorKind("the server's answer is not the expected {code, msg, data} envelope")
    READ_FAILED = ErrorKind("the file could not be read")
    FILE_CHANGED = ErrorKind("the file changed after it was chosen; choose it again")
    CHUNK_RESEND_LIMIT = ErrorKind("a chunk kept arriving corrupted at the server")
    UPLOAD_LOST_LIMIT = ErrorKind("the server kept forgetting this upload")
    RETRIES_EXHAUSTED = ErrorKind("the server stayed unreachable; try again later")
    ILLEGAL_TRANSITION = ErrorKind("this action is not possible in the upload's current state")
    INTERNAL = ErrorKind("unexpected error in the engine or one of its ports")
    # Downloads into the page (``downloader.py``)
    NO_SPACE = ErrorKind("there is not enough space in the browser's storage for this file")
    STORAGE_FAILED = ErrorKind("the browser's storage could not be written")
    STORAGE_BUSY = ErrorKind("this download is going on in another tab")
    UNEXPECTED_ANSWER = ErrorKind("the server's answer is not the part of the file that was asked for")
    SEGMENT_DAMAGED = ErrorKind("a part of the file kept arriving damaged")
    DOWNLOAD_MISMATCH = ErrorKind("the downloaded file does not match the server's digest")
    FILE_KEEPS_CHANGING = ErrorKind("the file kept changing on the server while it was downloaded")

    @property
    def message(self) -> str:
        return self.value.message


class EngineError(Exception):
    """An engine error: a catalogue entry and, optionally, a message more specific than its default."""

    def __init__(self, kind: Err, msg: str | None = None) -> None:
        self.kind = kind
        self.msg = msg if msg is not None else kind.message
        super().__init__(f"{kind.name}: {self.msg}")

    @property
    def code(self) -> str:
        """The stable name to show or match on (``"NETWORK"``, ``"SERVER"``...)."""
        return self.kind.name


class TransportError(EngineError):
    """No HTTP answer arrived. ``Transport.request`` raises it (``raise TransportError(str(e)) from e``)."""

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(Err.NETWORK, msg)


class ServerError(EngineError):
    """The server answered an error. ``msg`` is the server's message, shown to the user as is; ``data`` the
    envelope's ``data`` (e.g. the damaged chunks' ids with ``CHUNKS_DAMAGED``), usually None."""

    def __init__(self, status: int, msg: str, server_error: str | None = None, data: object = None) -> None:
        super().__init__(Err.SERVER, msg)
        self.status = status
        self.server_error = server_error
        self.data = data

    @property
    def code(self) -> str:
        """The server's stable error name if it sent one (``"CHUNKS_DAMAGED"``), else ``"HTTP_<status>"``."""
        return self.server_error or f"HTTP_{self.status}"


class IllegalTransition(EngineError):
    def __init__(self, current: object, target: object) -> None:
        super().__init__(Err.ILLEGAL_TRANSITION, f"cannot go from {current} to {target}")
        self.current = current
        self.target = target


def internal(exc: BaseException) -> EngineError:
    """An exception nobody expected (a bug in the engine or in a port), as the engine's INTERNAL error."""
    return EngineError(Err.INTERNAL, f"{type(exc).__name__}: {exc}")
