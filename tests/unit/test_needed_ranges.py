"""The compact answer's ranges (``wire.needed_ranges``): checked against the obvious set arithmetic."""

from __future__ import annotations

import random

import pytest

from wire import needed_ranges
from wire.errors import WireError
from wire.needed_ranges import Ranges


def brute(count: int, present: set[int]) -> Ranges:
    return needed_ranges.from_indexes([i for i in range(count) if i not in present])


@pytest.mark.parametrize("seed", range(200))
def test_missing_finds_every_gap(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.choice([0, 1, 2, 3, 17, 100, 1000])
    present = {i for i in range(count) if rng.random() < rng.random()}
    ranges = needed_ranges.missing(count, present)
    assert ranges == brute(count, present)
    assert needed_ranges.size(ranges) == count - len(present)
    assert list(needed_ranges.indexes(ranges)) == [i for i in range(count) if i not in present]


def test_missing_of_the_usual_shapes() -> None:
    assert needed_ranges.missing(0, set()) == ()
    assert needed_ranges.missing(4, set()) == ((0, 4),)
    assert needed_ranges.missing(4, {0, 1, 2, 3}) == ()
    assert needed_ranges.missing(16_000, set(range(9_000)) | {9_001}) == ((9_000, 9_001), (9_002, 16_000))
    assert needed_ranges.missing(10, {5}) == ((0, 5), (6, 10))


@pytest.mark.parametrize("seed", range(100))
def test_intersect_and_without_are_set_operations(seed: int) -> None:
    rng = random.Random(seed)
    count = 60
    a = {i for i in range(count) if rng.random() < 0.6}
    b = {i for i in range(count) if rng.random() < 0.6}
    ra, rb = brute(count, a), brute(count, b)  # the complements: what is missing of each
    missing_a, missing_b = set(range(count)) - a, set(range(count)) - b
    assert needed_ranges.intersect(ra, rb) == needed_ranges.from_indexes(sorted(missing_a & missing_b))
    index = rng.randrange(count)
    assert needed_ranges.without(ra, index) == needed_ranges.from_indexes(sorted(missing_a - {index}))


def test_json_round_trip_and_the_checks() -> None:
    ranges = ((0, 2), (7, 8))
    data = needed_ranges.to_json(ranges)
    assert data == {"needed": 3, "ranges": [[0, 2], [7, 8]]}
    assert needed_ranges.parse(data, 8) == ranges
    assert needed_ranges.parse({"needed": 0, "ranges": []}, 8) == ()
    for bad in (
        [],
        {"needed": 3},
        {"needed": 3, "ranges": [[0, 2], [2, 3]]},  # adjacent: not the canonical form
        {"needed": 4, "ranges": [[0, 3]]},  # the count does not match
        {"needed": 9, "ranges": [[0, 9]]},  # past the last chunk
        {"needed": 1, "ranges": [[True, 2]]},
        {"needed": 1, "ranges": [[1, 1]]},
    ):
        with pytest.raises(WireError):
            needed_ranges.parse(bad, 8)
