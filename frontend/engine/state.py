"""The upload state machine: the seed's states plus hashing, retrying and failed, and one transition table.

The seed's control button has ``unchoose`` / ``choose`` / ``uploading`` / ``pause`` / ``finish``; the values
of ``UploadState`` keep those words where they exist. Every change goes through ``StateMachine.go``, which
raises ``IllegalTransition`` for anything the table below does not list.

::

    no_file ──choose──> choose ──prepare/start──> hashing ──(server has it)──> finish
                           ^                         │ │
                           └────(prepared)───────────┘ └──(start)──> uploading <──────┐
                                                                      │  │  │  │      │
                                            pause <──(pause)──────────┘  │  │  └─> retrying (backoff)
                                              └──(continue)──> uploading │  └──────> finish
                                                                         └──(4xx)──> failed ──(retry)──> ...

``hashing`` covers computing the ids AND the first handshake (asking the server what it needs).
``retrying`` is the wait before the next attempt after a network error or a 5xx; it returns to the phase
that failed. ``pause`` stops new chunks at once; chunks already in flight finish, and their answers can
still finish (or fail) the upload while paused.
"""

from __future__ import annotations

from enum import StrEnum

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

# The whole table: state -> states it may go to.
TRANSITIONS: dict[UploadState, frozenset[UploadState]] = {
    S.NO_FILE: frozenset({S.CHOSEN}),
    S.CHOSEN: frozenset({S.HASHING, S.UPLOADING, S.NO_FILE}),
    # prepared -> CHOSEN; already on the server -> FINISHED; start() goes straight on -> UPLOADING
    S.HASHING: frozenset({S.CHOSEN, S.UPLOADING, S.FINISHED, S.FAILED, S.RETRYING}),
    S.UPLOADING: frozenset({S.PAUSED, S.RETRYING, S.FINISHED, S.FAILED}),
    # in-flight chunks finish while paused: their answers may finish or fail the upload
    S.PAUSED: frozenset({S.UPLOADING, S.FINISHED, S.FAILED, S.NO_FILE}),
    S.RETRYING: frozenset({S.HASHING, S.UPLOADING, S.PAUSED, S.FAILED}),
    S.FINISHED: frozenset({S.NO_FILE}),
    # the user retries: hash again if hashing failed, else ask the server and go on
    S.FAILED: frozenset({S.HASHING, S.UPLOADING, S.NO_FILE}),
}

RESTING = frozenset({S.NO_FILE, S.CHOSEN, S.PAUSED, S.FINISHED, S.FAILED})
"""States in which nothing runs until the user acts."""
ACTIVE = frozenset({S.HASHING, S.UPLOADING, S.RETRYING})
"""States in which the engine is working (a task runs)."""


def can_go(current: UploadState, target: UploadState) -> bool:
    return target in TRANSITIONS[current]


class StateMachine:
    """The current state and the only way to change it."""

    def __init__(self, initial: UploadState = S.NO_FILE) -> None:
        self._state = initial

    @property
    def state(self) -> UploadState:
        return self._state

    def go(self, target: UploadState) -> UploadState:
        """Move to ``target``; return the previous state. Raise ``IllegalTransition`` if not in the table."""
        if not can_go(self._state, target):
            raise IllegalTransition(self._state, target)
        previous, self._state = self._state, target
        return previous
