"""The upload state machine: what the UI sees (``UploadState``), what the controller does (``ControlState``),
and one transition table.

``UploadState`` is the seed's control button (``unchoose`` / ``choose`` / ``uploading`` / ``pause`` /
``finish``, words kept where they exist) plus hashing, retrying and failed: snapshots carry it and the UI
draws it. ``ControlState`` is the same list with ``pause`` split in three, because what ``pause`` and
``continue`` do depends on whether the run still has chunks in flight (they are not aborted: a half-sent
chunk is wasted, a finished one is progress):

- ``PAUSING``: paused by the user; the run starts no new request and waits for the ones in flight, whose
  answers still count (they may even finish or fail the upload). Also after a pause during a backoff wait,
  until the run has woken from it.
- ``RESUMING``: continued while PAUSING: once its requests are in, the same run asks the server what it
  still needs and goes on (UPLOADING). Pausing again calls the continue off (PAUSING).
- ``PAUSED``: nothing runs; continuing starts a new run.

All three show as PAUSED (``ControlState.shown``): the row says "Paused" at once and offers "Continue".
A run (the controller's one task) is going exactly in the ``ACTIVE`` states, and ends in the same step as
it enters a ``RESTING`` one. Every change goes through ``StateMachine.go``, which raises
``IllegalTransition`` for anything the table below does not list::

    no_file ──choose──> choose ──prepare/start──> hashing ──(server has it)──> finish
                           ^                         │ │
                           └────(prepared)───────────┘ └──(start)──> uploading <──────────────┐
                                                                      │  │  │  │              │
                                                                      │  │  │  └─> retrying ──┘ (backoff)
                                                                      │  │  └────> finish
                                                                      │  └─(4xx)─> failed ──(retry)──> ...
                                                                   (pause; also from retrying)
                                                                      v
         paused <──(drained)── pausing ──(continue)──> resuming ──(drained: ask the server)──> uploading
           │                     ^                        │
           │                     └─────────(pause)────────┘
           └──(continue)──> uploading

``hashing`` covers computing the ids AND the first handshake (asking the server what it needs).
``retrying`` is the wait before the next attempt after a network error or a 5xx; it returns to the phase
that failed. The answers of chunks in flight while pausing or resuming may finish or fail the upload;
``cancel()`` aborts them and leaves ``paused`` (``choose`` while hashing).
"""

from __future__ import annotations

from enum import Enum, StrEnum

from .errors import IllegalTransition


class UploadState(StrEnum):
    NO_FILE = "unchoose"  # the seed's word: nothing chosen yet
    CHOSEN = "choose"  # a file is chosen (and maybe prepared); waiting for start
    HASHING = "hashing"  # computing the file's and chunks' MD5, then the first handshake
    UPLOADING = "uploading"  # asking the server what it needs and sending those chunks
    PAUSED = "pause"  # the user paused: no new chunks start
    RETRYING = "retrying"  # waiting (backoff) before the next attempt after a network error or a 5xx
    FINISHED = "finish"  # the server has the whole file; ``url`` links to it
    FAILED = "failed"  # stopped for good until the user retries; ``error`` says why


S = UploadState


class ControlState(Enum):
    """The controller's states: ``UploadState``'s, with PAUSED split by what the run is still doing."""

    NO_FILE = "unchoose"
    CHOSEN = "choose"
    HASHING = "hashing"
    UPLOADING = "uploading"
    RETRYING = "retrying"
    PAUSING = "pausing"  # paused; the run waits for its chunks in flight
    RESUMING = "resuming"  # continued while pausing; the run goes on once its chunks are in
    PAUSED = "pause"  # paused; nothing runs
    FINISHED = "finish"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def shown(self) -> UploadState:
        """The state the UI sees."""
        return S.PAUSED if self in DRAINING else S(self.value)


C = ControlState

# The whole table: state -> states it may go to.
TRANSITIONS: dict[ControlState, frozenset[ControlState]] = {
    C.NO_FILE: frozenset({C.CHOSEN}),
    C.CHOSEN: frozenset({C.HASHING, C.UPLOADING, C.NO_FILE}),
    # prepared -> CHOSEN; already on the server -> FINISHED; start() goes straight on -> UPLOADING
    C.HASHING: frozenset({C.CHOSEN, C.UPLOADING, C.FINISHED, C.FAILED, C.RETRYING}),
    # pause -> PAUSING; cancel() -> PAUSED (nothing is left in flight)
    C.UPLOADING: frozenset({C.PAUSING, C.PAUSED, C.RETRYING, C.FINISHED, C.FAILED}),
    C.RETRYING: frozenset({C.HASHING, C.UPLOADING, C.PAUSING, C.PAUSED, C.FAILED}),
    # drained -> PAUSED; continue -> RESUMING; the answers in flight may finish or fail the upload
    C.PAUSING: frozenset({C.PAUSED, C.RESUMING, C.FINISHED, C.FAILED}),
    # drained -> UPLOADING; pause again -> PAUSING; cancel() -> PAUSED
    C.RESUMING: frozenset({C.UPLOADING, C.PAUSING, C.PAUSED, C.FINISHED, C.FAILED}),
    C.PAUSED: frozenset({C.UPLOADING, C.NO_FILE}),
    C.FINISHED: frozenset({C.NO_FILE}),
    # the user retries: hash again if hashing failed, else ask the server and go on
    C.FAILED: frozenset({C.HASHING, C.UPLOADING, C.NO_FILE}),
}

RESTING = frozenset({C.NO_FILE, C.CHOSEN, C.PAUSED, C.FINISHED, C.FAILED})
"""States in which nothing runs until the user acts."""
ACTIVE = frozenset({C.HASHING, C.UPLOADING, C.RETRYING, C.PAUSING, C.RESUMING})
"""States in which the controller's run is going."""
DRAINING = frozenset({C.PAUSING, C.RESUMING})
"""Paused while the run still waits for requests in flight: it starts no new one."""


def can_go(current: ControlState, target: ControlState) -> bool:
    return target in TRANSITIONS[current]


class StateMachine:
    """The current state and the only way to change it."""

    def __init__(self, initial: ControlState = C.NO_FILE) -> None:
        self._state = initial

    @property
    def state(self) -> ControlState:
        return self._state

    def go(self, target: ControlState) -> ControlState:
        """Move to ``target``; return the previous state. Raise ``IllegalTransition`` if not in the table."""
        if not can_go(self._state, target):
            raise IllegalTransition(self._state, target)
        previous, self._state = self._state, target
        return previous
