"""``server.rfc.ranges`` against RFC 9110 section 14 (its examples and its rules) and our abuse guards."""

from __future__ import annotations

import pytest

from server.rfc.ranges import (
    MAX_RANGES,
    UNSATISFIABLE,
    ByteRange,
    RangeSpec,
    coalesce,
    parse_range,
    resolve,
    select_ranges,
    unsatisfied_range,
)

B = ByteRange


# RFC 9110 section 14.1.2, "Byte Ranges", examples for a representation of length 10000.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-499", [B(0, 500)]),  # "The first 500 bytes"
        ("bytes=500-999", [B(500, 1000)]),  # "The second 500 bytes"
        ("bytes=-500", [B(9500, 10000)]),  # "The final 500 bytes"
        ("bytes=9500-", [B(9500, 10000)]),  # "The final 500 bytes", other form
        ("bytes=0-0,-1", [B(0, 1), B(9999, 10000)]),  # "The first and last bytes only"
        # "Other valid (but not canonical) specifications of the second 500 bytes (byte offsets 500-999,
        # inclusive)": coalesced into the canonical one.
        ("bytes=500-600,601-999", [B(500, 1000)]),
        ("bytes=500-700,601-999", [B(500, 1000)]),
    ],
)
def test_rfc_9110_byte_range_examples(value: str, expected: list[ByteRange]) -> None:
    assert select_ranges(value, 10000) == expected


def test_rfc_9110_range_set_example_parses_to_its_three_specs() -> None:
    # Section 14.1.1: "Range: bytes=0-999, 4500-5499, -1000" (OWS around commas, three forms).
    assert parse_range("bytes=0-999, 4500-5499, -1000") == [
        RangeSpec(0, 999),
        RangeSpec(4500, 5499),
        RangeSpec(None, 1000),
    ]
    assert select_ranges("bytes=0-999, 4500-5499, -1000", 10000) == [
        B(0, 1000),
        B(4500, 5500),
        B(9000, 10000),
    ]


# RFC 9110 section 14.4 examples of Content-Range for a representation of 1234 bytes.
@pytest.mark.parametrize(
    ("r", "value"),
    [
        (B(0, 500), "bytes 0-499/1234"),  # "The first 500 bytes"
        (B(500, 1000), "bytes 500-999/1234"),  # "The second 500 bytes"
        (B(500, 1234), "bytes 500-1233/1234"),  # "All except for the first 500 bytes"
        (B(734, 1234), "bytes 734-1233/1234"),  # "The last 500 bytes"
    ],
)
def test_content_range_examples(r: ByteRange, value: str) -> None:
    assert r.content_range(1234) == value


def test_unsatisfied_range_value() -> None:
    assert unsatisfied_range(1234) == "bytes */1234"  # section 14.4, "bytes */1234"


@pytest.mark.parametrize(
    "value",
    [
        "bytes=5-2",  # "An int-range is invalid if the last-pos value is present and less than the first-pos"
        "bytes=",  # range-set = 1#range-spec: at least one
        "bytes=,",
        "bytes",
        "bytes 0-1",
        "bytes=a-b",
        "bytes=0-1,x",
        "bytes=1",
        "bytes=--1",
        "bytes=-",
        "bytes=0-1-2",
        "bytes=+1-2",
        "bytes=0x1-2",
        "bytes= 0 - 1",  # no whitespace inside a range-spec
        "bytes=１-２",  # DIGIT is ASCII only
        "items=0-1",  # "MUST ignore a Range header field that contains a range unit it does not understand"
        "",
        "=0-1",
    ],
)
def test_invalid_headers_are_ignored(value: str) -> None:
    assert parse_range(value) is None
    assert select_ranges(value, 10000) is None  # ignored: the whole representation, 200


def test_range_unit_is_case_insensitive_and_empty_elements_are_accepted() -> None:
    # Section 14.1: range units are compared case-insensitively; section 5.6.1.2: a recipient MUST accept
    # empty list elements.
    assert select_ranges("BYTES=0-0", 10) == [B(0, 1)]
    assert select_ranges("Bytes=, 0-0 ,,\t", 10) == [B(0, 1)]


def test_absent_header_means_no_range() -> None:
    assert select_ranges(None, 10) is None


@pytest.mark.parametrize(
    ("value", "length"),
    [
        ("bytes=10-", 10),  # first-pos >= length
        ("bytes=10-20", 10),
        ("bytes=100-200,300-", 10),
        ("bytes=-0", 10),  # a suffix-length of zero
        ("bytes=0-", 0),  # "the only satisfiable form of range-spec" for an empty representation is a suffix
        ("bytes=0-0", 0),
    ],
)
def test_unsatisfiable_sets_answer_416(value: str, length: int) -> None:
    assert select_ranges(value, length) is UNSATISFIABLE


def test_satisfiable_members_win_over_unsatisfiable_ones() -> None:
    # Section 14.1.1: a set is satisfiable if it contains any satisfiable range-spec; the others are dropped.
    assert select_ranges("bytes=50-60,0-0", 10) == [B(0, 1)]
    assert resolve([RangeSpec(50, None), RangeSpec(None, 0), RangeSpec(3, 3)], 10) == [B(3, 4)]


def test_last_pos_and_suffix_beyond_the_end_are_clipped() -> None:
    # "If the last-pos value is absent, or if the value is greater than or equal to the current length of the
    # representation data, the byte range is interpreted as the remainder of the representation"
    assert select_ranges("bytes=5-999999999999999999999", 10) == [B(5, 10)]
    # "If the selected representation is shorter than the specified suffix-length, the entire representation
    # is used."
    assert select_ranges("bytes=-100", 10) == [B(0, 10)]


def test_suffix_of_an_empty_representation_is_ignored() -> None:
    # Satisfiable, but no Content-Range can describe zero bytes: the (empty) representation is sent with 200.
    assert select_ranges("bytes=-5", 0) is None


def test_coalescing_merges_overlap_and_small_gaps_keeping_request_order() -> None:
    assert coalesce([B(0, 4), B(2, 6)]) == [B(0, 6)]  # overlapping
    assert coalesce([B(0, 5), B(5, 10)]) == [B(0, 10)]  # adjacent
    assert coalesce([B(0, 10), B(4, 6)]) == [B(0, 10)]  # enclosed
    assert coalesce([B(0, 10), B(89, 100)], min_gap=80) == [B(0, 100)]  # gap of 79 < 80 bytes of framing
    assert coalesce([B(0, 10), B(90, 100)], min_gap=80) == [B(0, 10), B(90, 100)]  # gap of 80: two parts
    # Section 15.3.7.2: parts in the order of the range-specs, a merged one where its earliest member was.
    assert coalesce([B(900, 1000), B(0, 100)]) == [B(900, 1000), B(0, 100)]
    assert coalesce([B(900, 1000), B(0, 100), B(950, 1200)]) == [B(900, 1200), B(0, 100)]
    assert coalesce([B(5000, 6000), B(0, 100), B(50, 200)]) == [B(5000, 6000), B(0, 200)]


def test_overlapping_abuse_is_coalesced_never_amplified() -> None:
    # The same whole file asked for fifty times (section 14.2: "more than two overlapping ranges" is a sign of
    # a denial-of-service attack): one range, no byte twice.
    value = "bytes=" + ",".join(["0-"] * 50)
    assert select_ranges(value, 1_000_000) == [B(0, 1_000_000)]
    value = "bytes=" + ",".join(f"{i}-{i + 100_000}" for i in range(0, 90_000, 1000))
    assert select_ranges(value, 1_000_000) == [B(0, 189_001)]


def test_many_small_ranges_merge_when_close() -> None:
    # Every other byte: 50 one-byte ranges 1 byte apart become one range.
    value = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 100, 2))
    assert select_ranges(value, 1000) == [B(0, 99)]


def test_too_many_ranges_are_ignored() -> None:
    far_apart = ",".join(f"{i * 1000}-{i * 1000}" for i in range(MAX_RANGES + 1))
    assert select_ranges("bytes=" + far_apart, 10_000_000) is None
    at_limit = ",".join(f"{i * 1000}-{i * 1000}" for i in range(MAX_RANGES))
    selected = select_ranges("bytes=" + at_limit, 10_000_000)
    assert isinstance(selected, list) and len(selected) == MAX_RANGES


# 1*DIGIT has no upper bound: numbers longer than Python's int() accepts (4,300 digits) still parse.
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"bytes=0-{HUGE}", [B(0, 10000)]),  # last-pos past the end: to the end
        (f"bytes=-{HUGE}", [B(0, 10000)]),  # suffix longer than the file: the whole file
        (f"bytes={HUGE}-", UNSATISFIABLE),  # first-pos past the end
        (f"bytes={HUGE}-{HUGE}", UNSATISFIABLE),
        (f"bytes={HUGE}-{'9' * 4999}", None),  # last-pos < first-pos: invalid, ignored
        (f"bytes={'0' * 5000}5-9", [B(5, 10)]),  # leading zeros are still a small number
        (f"bytes=5-{'0' * 5000}4", None),  # 4 < 5: invalid
    ],
)
def test_numbers_of_any_length(value: str, expected: object) -> None:
    assert select_ranges(value, 10000) == expected
