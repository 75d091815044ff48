"""What to do about a failed request, and how long to wait before trying again.

Decisions (``classify``):

- no answer (``TransportError``: offline, connection refused while the server restarts, reset, timeout),
  any 5xx, 408 and 429 -> RETRY the whole step after a backoff, keeping every chunk already confirmed;
- 422 ``CHUNK_MISMATCH`` (the server checked the chunk as it arrived: its bytes were damaged on the way, it
  was not stored) -> RESEND_CHUNK: send that chunk again at once (bounded per chunk by
  ``UploadConfig.max_chunk_resends``);
- 422 ``CHUNKS_DAMAGED`` (the assembled file did not match fileId; the server dropped the chunks that do not
  match their ids, damaged on the way, and kept the rest) -> RESEND_DAMAGED: handshake again, which lists
  them, and send them (bounded by ``UploadConfig.max_chunk_resends`` such rounds per upload);
- 404 ``UNKNOWN_UPLOAD`` (the server lost or expired the upload) -> REHANDSHAKE, then go on with what the
  server says it needs (bounded by ``UploadConfig.max_rehandshakes`` in a row without progress);
- anything else (other 4xx, an answer that is not the protocol's, unreadable file) -> FAIL with the message.

Backoff (``RetryPolicy``): "full jitter" exponential backoff, ``delay = random() * min(cap, base * 2**(n-1))``
for the n-th consecutive failed attempt. With the defaults (base 1 s, cap 30 s) the mean waits are 0.5, 1, 2,
4, 8, 15, 15... s. The count resets whenever a chunk is confirmed, so an upload that makes progress between
outages never gives up.

Chosen bound: ``max_attempts = 10`` consecutive failures without progress (about 1.5 minutes of waiting on
average) then FAILED with ``RETRIES_EXHAUSTED``; the user can retry (``start()``), nothing confirmed is lost.
The engine cannot see the browser's online state, so it does not retry forever by default; the page may
pass ``max_attempts=None`` (retry forever) and call ``controller.retry_now()`` on the window's ``online``
event to skip the remaining wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from wire.errors import ErrorName

from .errors import EngineError, ServerError, TransportError

RETRY_STATUSES = frozenset({408, 429})  # "try again later" answers below 500


class Action(Enum):
    RETRY = "retry"
    RESEND_CHUNK = "resend_chunk"
    RESEND_DAMAGED = "resend_damaged"
    REHANDSHAKE = "rehandshake"
    FAIL = "fail"


def classify(error: BaseException) -> Action:
    """What the engine does about ``error`` (see the module docstring)."""
    if isinstance(error, TransportError):
        return Action.RETRY
    if isinstance(error, ServerError):
        if error.status >= 500 or error.status in RETRY_STATUSES:
            return Action.RETRY
        if error.status == 422 and error.server_error == ErrorName.CHUNK_MISMATCH:
            return Action.RESEND_CHUNK
        if error.status == 422 and error.server_error == ErrorName.CHUNKS_DAMAGED:
            return Action.RESEND_DAMAGED
        if error.status == 404 and error.server_error == ErrorName.UNKNOWN_UPLOAD:
            return Action.REHANDSHAKE
        return Action.FAIL
    if isinstance(error, EngineError) and error.kind.value.retryable:
        return Action.RETRY
    return Action.FAIL


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 1.0  # seconds: the ceiling of the first wait
    cap: float = 30.0  # seconds: no wait ceiling above this
    max_attempts: int | None = 10  # consecutive failed attempts before giving up; None = never give up

    def ceiling(self, attempt: int) -> float:
        """The longest wait after the ``attempt``-th consecutive failure (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, 64))

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        """Full jitter: uniform in ``[0, ceiling(attempt))``."""
        return random() * self.ceiling(attempt)

    def gives_up(self, attempt: int) -> bool:
        """True when the ``attempt``-th consecutive failure is one too many."""
        return self.max_attempts is not None and attempt > self.max_attempts
