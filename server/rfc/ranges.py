"""The ``Range`` request header (RFC 9110 section 14): which bytes of a representation to send.

Ranges are half-open ``[start, stop)`` offsets into a representation of a known length. ``select_ranges`` is
the whole policy in one call and has three kinds of answer:

- ``None``: ignore the header and send the whole representation with 200 (a syntactically invalid header,
  another range unit, or a set this server refuses to honour because it looks abusive);
- ``UNSATISFIABLE``: answer 416 with ``Content-Range: bytes */<length>``;
- a non-empty list of disjoint ranges, in the order the client asked for them: one range -> 206 with
  ``Content-Range``, several -> 206 ``multipart/byteranges``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final

# Range requests with more range-specs than this are answered with the whole representation: "A server that
# supports range requests MAY ignore or reject a Range header field that contains ... a set of many small
# ranges" (RFC 9110 section 14.2). Apache's MaxRanges default is 200; no resuming client sends more than a
# few.
MAX_RANGES: Final = 100
# "the typical overhead between parts of a multipart/byteranges is around 80 bytes" (RFC 9110 section
# 15.3.7.2): ranges separated by fewer bytes than that are cheaper to send as one.
MIN_GAP: Final = 80

_DIGITS = re.compile(r"[0-9]+")
_OWS = " \t"
# Positions and lengths are 1*DIGIT with no upper bound; any past this one lie past the end of every file we
# could serve (and Python refuses int() of a string over 4,300 digits), so they are all read as this one.
_PAST_ANY_END: Final = 10**19


def _number(digits: str) -> int:
    """The value of a 1*DIGIT field, or ``_PAST_ANY_END`` for one beyond it."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 19 else _PAST_ANY_END


def _less(left: str, right: str) -> bool:
    """Whether the 1*DIGIT ``left`` is a smaller number than ``right``, however many digits either has."""
    a, b = left.lstrip("0"), right.lstrip("0")
    return (len(a), a) < (len(b), b)


@dataclass(frozen=True)
class RangeSpec:
    """One range-spec as written: ``first-last`` / ``first-`` (int-range, ``last`` None) or ``-suffix``."""

    first: int | None  # None for a suffix-range
    last: int | None  # the last-pos of an int-range, or the suffix-length of a suffix-range

    @property
    def is_suffix(self) -> bool:
        return self.first is None


@dataclass(frozen=True, order=True)
class ByteRange:
    """``[start, stop)`` within a representation; never empty."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self, complete_length: int) -> str:
        """The ``Content-Range`` value (RFC 9110 section 14.4): ``bytes first-last/complete-length``."""
        return f"bytes {self.start}-{self.stop - 1}/{complete_length}"


class Unsatisfiable(Enum):
    """The header was valid, but no range in it overlaps the representation: answer 416."""

    UNSATISFIABLE = "unsatisfiable"


UNSATISFIABLE: Final = Unsatisfiable.UNSATISFIABLE

Selection = list[ByteRange] | Unsatisfiable | None


def unsatisfied_range(complete_length: int) -> str:
    """``Content-Range`` of a 416: "A server generating a 416 (Range Not Satisfiable) response to a
    byte-range request SHOULD send a Content-Range header field with an unsatisfied-range value" (RFC 9110
    section 14.4)."""
    return f"bytes */{complete_length}"


def parse_range(value: str) -> list[RangeSpec] | None:
    """Parse a ``Range`` value into its range-specs; None when it is not a valid ``bytes`` ranges-specifier.

    RFC 9110 section 14.1.1 and 14.2::

        Range = ranges-specifier
        ranges-specifier = range-unit "=" range-set
        range-set        = 1#range-spec
        range-spec       = int-range / suffix-range / other-range
        int-range        = first-pos "-" [ last-pos ]
        suffix-range     = "-" suffix-length
    """
    unit, eq, range_set = value.partition("=")
    # "Range unit names are case-insensitive" (section 14.1); "bytes" is the only unit we serve, and "An
    # origin server MUST ignore a Range header field that contains a range unit it does not understand"
    # (section 14.2).
    if not eq or unit.lower() != "bytes":
        return None
    specs: list[RangeSpec] = []
    # "#rule": "a recipient MUST accept empty list elements" (section 5.6.1.2), with optional whitespace.
    for element in range_set.split(","):
        element = element.strip(_OWS)
        if not element:
            continue
        first_text, dash, last_text = element.partition("-")
        if not dash:
            return None
        if first_text == "":
            if not _DIGITS.fullmatch(last_text):
                return None
            specs.append(RangeSpec(None, _number(last_text)))
            continue
        if not _DIGITS.fullmatch(first_text) or (last_text and not _DIGITS.fullmatch(last_text)):
            return None
        # "An int-range is invalid if the last-pos value is present and less than the first-pos" (14.1.1), and
        # a server "MAY ignore or reject a Range header field that contains an invalid ranges-specifier"
        # (14.2).
        if last_text and _less(last_text, first_text):
            return None
        specs.append(RangeSpec(_number(first_text), _number(last_text) if last_text else None))
    return specs or None  # range-set = 1#range-spec: at least one


def resolve(specs: list[RangeSpec], length: int) -> list[ByteRange] | Unsatisfiable:
    """The satisfiable specs as byte ranges of a representation of ``length`` bytes, in the order given.

    RFC 9110 section 14.1.1: "For byte ranges, failing to overlap the current extent means that the first-pos
    of all of the range-spec values were greater than or equal to the current length of the selected
    representation." A satisfiable set is served; its unsatisfiable members are dropped.
    """
    ranges: list[ByteRange] = []
    satisfiable = False
    for spec in specs:
        if spec.first is None:
            assert spec.last is not None
            # "If the selected representation is shorter than the specified suffix-length, the entire
            # representation is used." A suffix-length of zero is unsatisfiable.
            if spec.last == 0:
                continue
            satisfiable = True
            start = max(0, length - spec.last)
            stop = length
        else:
            if spec.first >= length:
                continue
            satisfiable = True
            start = spec.first
            # "If the last-pos value is absent, or if the value is greater than or equal to the current length
            # of the representation data, the byte range is interpreted as the remainder of the
            # representation"
            stop = length if spec.last is None else min(spec.last + 1, length)
        if stop > start:
            ranges.append(ByteRange(start, stop))
    if not satisfiable:
        return UNSATISFIABLE
    return ranges  # empty only for a suffix-range of an empty representation


def coalesce(ranges: list[ByteRange], min_gap: int = MIN_GAP) -> list[ByteRange]:
    """Merge ranges that overlap or lie closer than ``min_gap`` bytes apart, keeping the client's order.

    RFC 9110 section 15.3.7.2: "a server MAY coalesce any of the ranges that overlap, or that are separated by
    a gap that is smaller than the overhead of sending multiple parts, regardless of the order in which the
    corresponding range-spec appeared", and "SHOULD send the parts in the same order that the corresponding
    range-spec appeared in the received Range header field, excluding those ranges that were deemed
    unsatisfiable or that were coalesced into other ranges". Each merged range takes the place of the earliest
    range-spec that fed it.
    """
    if len(ranges) < 2:
        return list(ranges)  # nothing to merge (the common case: one range)
    order = sorted(range(len(ranges)), key=lambda i: ranges[i])
    merged: list[tuple[int, ByteRange]] = []  # (position of the earliest range it absorbed, range)
    for i in order:
        current = ranges[i]
        if merged and current.start - merged[-1][1].stop < min_gap:
            first_seen, last = merged[-1]
            merged[-1] = (min(first_seen, i), ByteRange(last.start, max(last.stop, current.stop)))
        else:
            merged.append((i, current))
    merged.sort(key=lambda pair: pair[0])
    return [r for _, r in merged]


def select_ranges(
    value: str | None, length: int, *, max_ranges: int = MAX_RANGES, min_gap: int = MIN_GAP
) -> Selection:
    """What to send for a ``Range`` header (None when absent) and a representation of ``length`` bytes."""
    if value is None:
        return None
    specs = parse_range(value)
    if specs is None:
        return None  # "MAY ignore or reject ... an invalid ranges-specifier" (section 14.2): we ignore it
    if len(specs) > max_ranges:
        return None  # "MAY ignore or reject ... a set of many small ranges" (section 14.2): the whole file
    ranges = resolve(specs, length)
    if ranges is UNSATISFIABLE:
        return UNSATISFIABLE
    if not ranges:
        return None  # a suffix of an empty representation: nothing a Content-Range could describe
    # Overlapping sets are coalesced, so no byte is sent twice: the body never exceeds the representation plus
    # the framing of parts at least ``min_gap`` apart.
    return coalesce(ranges, min_gap)
