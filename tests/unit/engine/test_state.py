"""The transition table: every listed transition works, every other one raises IllegalTransition; the
controller's states show as the UI's."""

from __future__ import annotations

import itertools

import pytest

from frontend.engine.errors import EngineError, Err, IllegalTransition
from frontend.engine.state import (
    ACTIVE,
    DRAINING,
    RESTING,
    TRANSITIONS,
    ControlState,
    StateMachine,
    UploadState,
    can_go,
)

S = UploadState
C = ControlState
LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
ILLEGAL = [(a, b) for a, b in itertools.product(C, C) if b not in TRANSITIONS[a]]


def test_the_seeds_words_are_kept() -> None:
    assert [S.NO_FILE.value, S.CHOSEN.value, S.UPLOADING.value, S.PAUSED.value, S.FINISHED.value] == [
        "unchoose",
        "choose",
        "uploading",
        "pause",
        "finish",
    ]
    assert str(S.PAUSED) == "pause"


def test_every_state_has_a_row_and_is_resting_or_active() -> None:
    assert set(TRANSITIONS) == set(C)
    assert RESTING | ACTIVE == set(C) and not RESTING & ACTIVE
    assert DRAINING <= ACTIVE


def test_every_control_state_shows_as_the_state_of_its_name_but_pausing_and_resuming() -> None:
    assert {state.shown for state in C} == set(S)
    for state in C:
        assert state.shown is (S.PAUSED if state in DRAINING else S[state.name])
    assert C.PAUSING.shown is C.RESUMING.shown is S.PAUSED
    assert str(C.PAUSING) == "pausing"


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_transitions(current: ControlState, target: ControlState) -> None:
    machine = StateMachine(current)
    assert machine.go(target) is current
    assert machine.state is target
    assert can_go(current, target)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transitions_raise_and_keep_the_state(current: ControlState, target: ControlState) -> None:
    machine = StateMachine(current)
    with pytest.raises(IllegalTransition) as info:
        machine.go(target)
    assert machine.state is current
    assert isinstance(info.value, EngineError) and info.value.kind is Err.ILLEGAL_TRANSITION
    assert (info.value.current, info.value.target) == (current, target)


def test_the_seeds_happy_path_and_the_new_states() -> None:
    machine = StateMachine()
    path = [
        C.CHOSEN,
        C.HASHING,
        C.CHOSEN,
        C.UPLOADING,
        C.PAUSED,
        C.UPLOADING,
        C.RETRYING,
        C.UPLOADING,
        C.FINISHED,
    ]
    for state in path:
        machine.go(state)
    assert machine.state is C.FINISHED
    for target in (C.UPLOADING, C.PAUSED, C.FAILED):  # finished is final (until the file is cleared)
        assert not can_go(C.FINISHED, target)
    assert not can_go(C.HASHING, C.PAUSED)  # hashing cannot be paused
    assert not can_go(C.HASHING, C.PAUSING)
    assert can_go(C.FAILED, C.UPLOADING) and can_go(C.FAILED, C.HASHING)  # the user retries


def test_pause_with_chunks_in_flight_and_continue_while_they_drain() -> None:
    machine = StateMachine(C.UPLOADING)
    for state in (C.PAUSING, C.RESUMING, C.PAUSING, C.PAUSED):  # pause, continue, pause again, drained
        machine.go(state)
    for state in (C.UPLOADING, C.PAUSING, C.RESUMING, C.UPLOADING):  # continue after the drain
        machine.go(state)
    assert can_go(C.RETRYING, C.PAUSING)  # a pause cuts a backoff wait short, then the run drains
    for draining in DRAINING:  # the answers in flight may end the upload; cancel() aborts them
        assert {C.FINISHED, C.FAILED, C.PAUSED} <= TRANSITIONS[draining]
    assert not can_go(C.PAUSED, C.RESUMING)  # nothing is draining: continuing starts a new run
