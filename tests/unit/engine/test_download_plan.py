"""The segment plan, what is still missing, the journal's codec, and the state table of downloads."""

from __future__ import annotations

import pytest

from frontend.engine.download_journal import Journal, decode, latest, parse_runs, runs, seal, unseal
from frontend.engine.download_plan import MissingSegments, Segment, SegmentPlan
from frontend.engine.download_state import (
    ACTIVE,
    RESTING,
    TRANSITIONS,
    DownloadControl,
    DownloadMachine,
    DownloadState,
)
from frontend.engine.errors import IllegalTransition


@pytest.mark.parametrize(
    ("size", "segment_size", "ends"),
    [
        (0, 10, []),
        (1, 10, [1]),
        (10, 10, [10]),
        (11, 10, [10, 11]),
        (25, 10, [10, 20, 25]),
    ],
)
def test_segments_cover_the_file_exactly(size: int, segment_size: int, ends: list[int]) -> None:
    plan = SegmentPlan(size, segment_size)
    segments = plan.segments()
    assert [s.end for s in segments] == ends
    assert [s.start for s in segments] == [0, *ends[:-1]][: len(ends)]
    assert sum(s.size for s in segments) == size
    assert plan.count == len(ends)


def test_a_server_without_ranges_has_one_segment() -> None:
    plan = SegmentPlan(25, 10, ranged=False)
    assert plan.segments() == [Segment(0, 0, 25)]
    assert SegmentPlan(0, 10, ranged=False).count == 0


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError):
        SegmentPlan(10, 0)
    with pytest.raises(ValueError):
        SegmentPlan(-1, 10)
    with pytest.raises(IndexError):
        SegmentPlan(10, 10).segment(1)


def test_missing_segments_go_in_file_order_and_only_shrink() -> None:
    plan = SegmentPlan(50, 10)
    missing = MissingSegments(plan, done={1, 3})
    assert len(missing) == 3 and missing.bytes == 30
    first = missing.next_free()
    assert first is not None and first.index == 0
    missing.in_flight.add(0)
    second = missing.next_free()
    assert second is not None and second.index == 2
    missing.landed(2)
    missing.landed(2)  # twice is harmless
    assert missing.bytes == 20 and missing.done == {1, 2, 3}
    assert plan.done_prefix(missing.done) == 0
    assert plan.done_prefix({0, 1, 2}) == 30
    assert plan.done_prefix(range(5)) == 50


def test_runs_of_segment_indices() -> None:
    assert runs({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert runs(()) == ""
    assert parse_runs("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_runs("") == frozenset()
    for bad in ("2-1", "a", "1-", "-1", "1,,2", 5, "0-99999999999"):
        assert parse_runs(bad) is None


def test_the_journal_round_trips_and_refuses_what_it_does_not_understand() -> None:
    journal = Journal("http://x.test/a", "报告.bin", 25, '"e"', 10, frozenset({0, 2}), "ab" * 32, False, 5.0)
    assert decode(journal.encode()) == journal
    assert journal.same_version("http://x.test/a", 25, '"e"')
    assert not journal.same_version("http://x.test/a", 25, '"f"')
    assert not journal.same_version("http://x.test/a", 26, '"e"')
    text = journal.encode()
    for broken in (
        text[: len(text) // 2],  # torn
        text.replace('"v":1', '"v":2'),
        text.replace('"done":"0,2"', '"done":"0,3"'),  # segment 3 of a 3-segment file
        text.replace('"size":25', '"size":-1'),
        "[]",
        "",
    ):
        assert decode(broken) is None


def test_two_slots_a_torn_write_falls_back_to_the_commit_before() -> None:
    older = Journal("http://x.test/a", "a.bin", 25, '"e"', 10, frozenset({0}))
    newer = older.with_done({0, 1}, 9.0)
    slot0, slot1 = seal(4, older).decode(), seal(5, newer).decode()
    assert unseal(slot1) == (5, newer)
    assert latest([slot0, slot1]) == (5, newer)
    torn = slot1[: len(slot1) - 7]  # the crash came while slot 1 was written
    assert unseal(torn) is None
    assert latest([slot0, torn]) == (4, older)
    assert unseal(slot1.replace('"done":"0-1"', '"done":"0-2"')) is None  # damaged: the checksum fails
    assert latest([None, "", "garbage"]) is None


def test_the_state_table() -> None:
    D = DownloadControl
    machine = DownloadMachine()
    for target in (D.CHECKING, D.DOWNLOADING, D.PAUSING, D.RESUMING, D.DOWNLOADING, D.VERIFYING, D.FINISHED):
        machine.go(target)
    with pytest.raises(IllegalTransition):
        machine.go(D.CHECKING)
    assert D.PAUSING.shown is DownloadState.PAUSED and D.RESUMING.shown is DownloadState.PAUSED
    assert RESTING.isdisjoint(ACTIVE) and RESTING | ACTIVE == set(D)
    assert TRANSITIONS[D.DISCARDED] == frozenset()
    for state in RESTING - {D.DISCARDED}:
        assert D.DISCARDED in TRANSITIONS[state]  # a resting download can always be removed
