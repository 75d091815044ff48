"""The download state machine, in the upload's style (``state.py``): what the UI sees (``DownloadState``),
what the controller does (``DownloadControl``) and one transition table.

``DownloadState`` uses the upload's words where they mean the same (``pause``, ``retrying``, ``finish``,
``failed``), so rows of both kinds read alike. ``DownloadControl`` splits ``pause`` in three for the same
reason as uploads: segments in flight are not aborted by a pause (a half-fetched segment is wasted, a whole
one is progress):

- ``PAUSING``: paused by the user; the run starts no new request and waits for those in flight.
- ``RESUMING``: continued while PAUSING: once they are in, the same run goes on.
- ``PAUSED``: nothing runs; continuing starts a new run, which checks the file on the server first.

All three show as PAUSED. A run (the controller's one task) is going exactly in the ``ACTIVE`` states::

    new ──start──> checking ──> downloading <─────────────┐
                     ^  │          │  │  │  │             │
                     │  │          │  │  │  └─> retrying ──┘ (backoff; also back to checking, verifying)
        (the file    │  │          │  │  └──> verifying ──> finish
         changed:    │  │          │  └─(4xx, no space)──> failed ──(retry)──> checking
         start over) └──┴──────────┘            (pause; also from checking, retrying)
                                                   v
         paused <──(drained)── pausing ──(continue)──> resuming ──(drained)──> downloading / checking
           │                     ^                        │
           │                     └─────────(pause)────────┘
           └──(continue)──> checking

``checking`` asks the server about the file (size, ETag, digest), compares with the journal on disk and
checks the space; ``verifying`` hashes the file and compares it with the server's digests, then hands it
over. ``discarded`` is the end of a download whose file was removed (from any resting state).
"""

from __future__ import annotations

from enum import Enum, StrEnum

from .errors import IllegalTransition


class DownloadState(StrEnum):
    NEW = "new"  # created, not started
    CHECKING = "checking"  # asking the server about the file, checking the journal and the space
    DOWNLOADING = "downloading"  # fetching the segments still missing
    PAUSED = "pause"  # the user paused: no new segment starts
    RETRYING = "retrying"  # waiting (backoff) before the next attempt after a network error or a 5xx
    VERIFYING = "verifying"  # hashing the file, comparing with the server's digests, handing it over
    FINISHED = "finish"  # verified and handed over
    FAILED = "failed"  # stopped until the user retries; ``error`` says why
    DISCARDED = "discarded"  # the partial file was removed


class DownloadControl(Enum):
    NEW = "new"
    CHECKING = "checking"
    DOWNLOADING = "downloading"
    RETRYING = "retrying"
    VERIFYING = "verifying"
    PAUSING = "pausing"  # paused; the run waits for its segments in flight
    RESUMING = "resuming"  # continued while pausing; the run goes on once they are in
    PAUSED = "pause"
    FINISHED = "finish"
    FAILED = "failed"
    DISCARDED = "discarded"

    def __str__(self) -> str:
        return self.value

    @property
    def shown(self) -> DownloadState:
        """The state the UI sees."""
        return DownloadState.PAUSED if self in DRAINING else DownloadState(self.value)


D = DownloadControl

TRANSITIONS: dict[DownloadControl, frozenset[DownloadControl]] = {
    D.NEW: frozenset({D.CHECKING, D.DISCARDED}),
    # the journal matches and every segment is there -> VERIFYING; cancel() -> PAUSED
    D.CHECKING: frozenset({D.DOWNLOADING, D.VERIFYING, D.RETRYING, D.PAUSING, D.PAUSED, D.FAILED}),
    # the file changed on the server -> CHECKING (start over)
    D.DOWNLOADING: frozenset({D.CHECKING, D.VERIFYING, D.RETRYING, D.PAUSING, D.PAUSED, D.FAILED}),
    D.RETRYING: frozenset({D.CHECKING, D.DOWNLOADING, D.VERIFYING, D.PAUSING, D.PAUSED, D.FAILED}),
    # a file that does not match its digest, or changed meanwhile -> CHECKING (start over)
    D.VERIFYING: frozenset({D.CHECKING, D.RETRYING, D.FINISHED, D.FAILED, D.PAUSED}),
    # the segments in flight were the last ones -> VERIFYING (local work: it goes on)
    D.PAUSING: frozenset({D.PAUSED, D.RESUMING, D.VERIFYING, D.FAILED}),
    D.RESUMING: frozenset({D.CHECKING, D.DOWNLOADING, D.VERIFYING, D.PAUSING, D.PAUSED, D.FAILED}),
    D.PAUSED: frozenset({D.CHECKING, D.DISCARDED}),
    D.FINISHED: frozenset({D.DISCARDED}),
    D.FAILED: frozenset({D.CHECKING, D.DISCARDED}),
    D.DISCARDED: frozenset(),
}

RESTING = frozenset({D.NEW, D.PAUSED, D.FINISHED, D.FAILED, D.DISCARDED})
"""States in which nothing runs until the user acts."""
ACTIVE = frozenset({D.CHECKING, D.DOWNLOADING, D.RETRYING, D.VERIFYING, D.PAUSING, D.RESUMING})
"""States in which the controller's run is going."""
DRAINING = frozenset({D.PAUSING, D.RESUMING})
"""Paused while the run still waits for requests in flight: it starts no new one."""
PAUSABLE = frozenset({D.CHECKING, D.DOWNLOADING, D.RETRYING})
"""States a pause applies to (verifying is local work and short: it is not paused)."""


def can_go(current: DownloadControl, target: DownloadControl) -> bool:
    return target in TRANSITIONS[current]


class DownloadMachine:
    """The current state and the only way to change it."""

    def __init__(self, initial: DownloadControl = D.NEW) -> None:
        self._state = initial

    @property
    def state(self) -> DownloadControl:
        return self._state

    def go(self, target: DownloadControl) -> DownloadControl:
        """Move to ``target``; return the previous state. Raise ``IllegalTransition`` if not in the table."""
        if not can_go(self._state, target):
            raise IllegalTransition(self._state, target)
        previous, self._state = self._state, target
        return previous
