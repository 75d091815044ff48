"""The transition table: every listed transition works, every other one raises IllegalTransition."""

from __future__ import annotations

import itertools

import pytest

from frontend.engine.errors import EngineError, Err, IllegalTransition
from frontend.engine.state import ACTIVE, RESTING, TRANSITIONS, StateMachine, UploadState, can_go

S = UploadState
LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
ILLEGAL = [(a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a]]


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
    assert set(TRANSITIONS) == set(S)
    assert RESTING | ACTIVE == set(S) and not RESTING & ACTIVE


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_transitions(current: UploadState, target: UploadState) -> None:
    machine = StateMachine(current)
    assert machine.go(target) is current
    assert machine.state is target
    assert can_go(current, target)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transitions_raise_and_keep_the_state(current: UploadState, target: UploadState) -> None:
    machine = StateMachine(current)
    with pytest.raises(IllegalTransition) as info:
        machine.go(target)
    assert machine.state is current
    assert isinstance(info.value, EngineError) and info.value.kind is Err.ILLEGAL_TRANSITION
    assert (info.value.current, info.value.target) == (current, target)


def test_the_seeds_happy_path_and_the_new_states() -> None:
    machine = StateMachine()
    path = [
        S.CHOSEN,
        S.HASHING,
        S.CHOSEN,
        S.UPLOADING,
        S.PAUSED,
        S.UPLOADING,
        S.RETRYING,
        S.UPLOADING,
        S.FINISHED,
    ]
    for state in path:
        machine.go(state)
    assert machine.state is S.FINISHED
    for target in (S.UPLOADING, S.PAUSED, S.FAILED):  # finished is final (until the file is cleared)
        assert not can_go(S.FINISHED, target)
    assert not can_go(S.HASHING, S.PAUSED)  # hashing cannot be paused
    assert can_go(S.FAILED, S.UPLOADING) and can_go(S.FAILED, S.HASHING)  # the user retries
