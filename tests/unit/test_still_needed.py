"""What the service answers an upload still needs (``server/uploads/still_needed.py``): the seed's list or
the compact ranges, and answers derived from the last one equal to answers computed afresh."""

from __future__ import annotations

import random
from types import MappingProxyType

import pytest

from server.storage.contract import Upload
from server.uploads.still_needed import COMPLETE, RecentAnswers, StillNeeded

IDS = tuple(f"{i:032x}{i}" for i in range(40))


def upload_of(sizes: dict[int, int], created_at: float = 1.0) -> Upload:
    return Upload("f" * 32, IDS, None, created_at, created_at, MappingProxyType(sizes))


def test_rendered_as_the_seeds_list_or_as_ranges() -> None:
    needed = StillNeeded.of(IDS[:5], {1, 2})
    assert needed.render(compact=False) == [IDS[0], IDS[3], IDS[4]] == list(needed) == needed
    assert needed.render(compact=True) == {"needed": 3, "ranges": [[0, 1], [3, 5]]}
    assert (len(needed), bool(COMPLETE), COMPLETE.render(True)) == (3, False, {"needed": 0, "ranges": []})


@pytest.mark.parametrize("seed", range(30))
def test_derived_answers_equal_fresh_ones_whatever_happens_between(seed: int) -> None:
    rng = random.Random(seed)
    answers, sizes = RecentAnswers(), {}
    upload = upload_of(sizes)
    for _ in range(120):
        missing = [index for index in range(len(IDS)) if index not in sizes]  # a kept chunk is never replaced
        move = rng.random()
        if move < 0.7 and missing:  # one chunk kept: the usual case, derived
            index = rng.choice(missing)
            sizes[index] = rng.randrange(1, 100)
            answer = answers.of(upload, index)
        elif move < 0.85 and len(missing) >= 3:  # several kept elsewhere (another instance): not told
            for index in rng.sample(missing, 3):
                sizes[index] = 7
            answer = answers.of(upload, rng.randrange(len(IDS)))
        else:  # chunks dropped (damage found at assembly)
            for index in rng.sample(sorted(sizes), min(2, len(sizes))):
                del sizes[index]
            answers.forget(upload)
            answer = answers.of(upload)
        assert answer == StillNeeded.of(IDS, sizes)
        assert answers.stored_bytes(upload) == sum(sizes.values())
