"""What to do about a failed request, and how long to wait before trying again.

Decisions (``classify``):

- no answer (``TransportError``: offline, connection refused while the server restarts, reset, timeout),
  any 5xx, 408 and 429 -> RETRY the whole step after a backoff, keeping every chunk already confirmed;
- 422 ``CHUNK_MISMATCH`` (the server checked the chunk as it arrived: its bytes were damaged on the way, it
  was not stored) -> RESEND_CHUNK: send that chunk again at once;
- 422 ``CHUNKS_DAMAGED`` (the assembled file did not match fileId; the server dropped the chunks that do not
  match their ids, damaged on the way, and kept the rest) -> RESEND_DAMAGED: handshake again, which lists
  them, and send them;
- 404 ``UNKNOWN_UPLOAD`` (the server lost or expired the upload) -> REHANDSHAKE, then go on with what the
  server says it needs (bounded by ``UploadConfig.max_rehandshakes`` in a row without progress);
- anything else (other 4xx, an answer that is not the protocol's, unreadable file) -> FAIL with the message.

Both resends are bounded (``ResendBudget``, ``UploadConfig.max_chunk_resends``: per chunk, and rounds of
CHUNKS_DAMAGED per upload): a client whose ids are wrong would otherwise go round forever.

Backoff (``RetryPolicy``): "full jitter" exponential backoff, ``delay = random() * min(cap, base * 2**(n-1))``
for the n-th consecutive failed attempt. With the defaults (base 1 s, cap 30 s) the mean waits are 0.5, 1, 2,
4, 8, 15, 15... s. The count resets whenever a chunk is confirmed, so an upload that makes progress between
outages never gives up.

Chosen bound: ``max_attempts = 10`` consecutive failures without progress (about 1.5 minutes of waiting on
average) then FAILED with ``RETRIES_EXHAUSTED``; the user can retry (``start()``), nothing confirmed is lost.
The engine cannot see the browser's online state, so it does not retry forever by default; the page may
pass ``max_attempts=None`` (retry forever) and call ``controller.retry_now()`` on the window's ``online``
event to skip the remaining wait.

Stalls (``STALL_TIMEOUT``, ``UploadConfig.stall_timeout``, passed in each ``HttpRequest.stall_timeout``): a
connection can stop moving without failing (a NAT that forgot it, a proxy that stopped reading, a Wi-Fi
switch), and then no error comes for minutes. The transport gives up a request that makes no progress for
that long: no bytes of its body taken by the network, then no answer's head once the whole body is taken;
the clock starts with the first bytes taken, so a request waiting for one of the browser's six connections
to the server does not count as stalled. It raises ``TransportError``: retried like any other.

Chosen: 60 s without progress, not a bound on the whole request. A whole-request bound must exceed the
slowest live request (a 1 MiB chunk on a 256 kbit/s uplink takes about 33 s, about 100 s when three lanes
share it), so it lets a dead request hang at least that long; a live request shows progress each time the
network takes more of its bytes (events at most every 50 ms), however long it takes in all. What the
browser cannot see is the operating system's send buffer draining: it takes a body's last bytes at once,
and the rest looks like a wait for the answer (over loopback Chromium saw all of a 2 MiB body taken within
0.12 s, by a server that read it in 8.4 s). On a slow link that buffer holds seconds of sending (it grows
with the connection's window): 60 s leaves room for three lanes' buffers to drain at 256 kbit/s, plus the
server's answer. Uppy's 30 s did not always (users saw "upload stalled" at 100 %: transloadit/uppy#2929,
where 60 s helped). 60 s is also the server's ``--body-timeout-seconds`` and the downloads' ``stall_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from wire.errors import ErrorName

from .errors import EngineError, Err, ServerError, TransportError

RETRY_STATUSES = frozenset({408, 429})  # "try again later" answers below 500
STALL_TIMEOUT = 60.0  # seconds without progress before a request is given up (see the module docstring)


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


class ResendBudget:
    """How often damaged chunks may be sent again: ``limit`` times per chunk after 422 CHUNK_MISMATCH (the
    count starts over once the chunk is stored), and ``limit`` rounds of 422 CHUNKS_DAMAGED per upload.
    Each count returns the ``CHUNK_RESEND_LIMIT`` error to fail with once it is spent, else None."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._refusals: dict[str, int] = {}  # chunk id -> 422 CHUNK_MISMATCH answers since it was last stored
        self._damaged_rounds = 0

    def chunk_refused(self, chunk_id: str, exc: ServerError) -> EngineError | None:
        count = self._refusals[chunk_id] = self._refusals.get(chunk_id, 0) + 1
        if count <= self.limit:
            return None
        return EngineError(
            Err.CHUNK_RESEND_LIMIT,
            f"chunk {chunk_id[32:]} arrived damaged {count} times; last answer: {exc.code}: {exc.msg}",
        )

    def chunk_stored(self, chunk_id: str) -> None:
        self._refusals.pop(chunk_id, None)

    def damaged_round(self, exc: ServerError) -> EngineError | None:
        self._damaged_rounds += 1
        if self._damaged_rounds <= self.limit:
            return None
        return EngineError(
            Err.CHUNK_RESEND_LIMIT,
            f"the server found damaged chunks {self._damaged_rounds} times; "
            f"last answer: {exc.code}: {exc.msg}",
        )
