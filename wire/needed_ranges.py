"""The compact answer of the seed's upload API: the chunks still needed as ranges of their indexes.

The seed answers a handshake and every chunk with the list of every chunk id still needed, so the answers of
a whole upload grow with the square of its chunk count (16,000 chunks: 5.1 GB). A client that adds
``?answer=ranges`` to both requests (the seed's client never does; its answers stay exactly as they were) gets
instead, as ``data``::

    {"needed": 3, "ranges": [[0, 2], [7, 8]]}

``needed`` is how many chunks are still needed and ``ranges`` which ones: half-open ranges ``[start, end)`` of
chunk indexes (positions in the handshake's ``chunkIds``), in increasing order, disjoint and not adjacent.
``{"needed": 0, "ranges": []}`` is the seed's ``[]``: the file is complete. A handshake for a file the server
already stores still answers its URL (a string). The server computes an answer from the sorted indexes it
holds in O(gaps x log(chunks)) after the sort; the client keeps its needed set in this form too.

Shared by the server (which writes it) and the browser's engine (which reads it). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from .errors import WireError, shown, type_name

ANSWER_QUERY = "answer"
"""The query parameter that asks for the compact answer (on the handshake and on every chunk)."""
ANSWER_RANGES = "ranges"

Ranges = tuple[tuple[int, int], ...]
"""Half-open ``[start, end)`` ranges of chunk indexes, increasing, disjoint, never adjacent."""


def missing(count: int, present: Collection[int]) -> Ranges:
    """The indexes of ``range(count)`` not in ``present`` (which holds only indexes below ``count``).

    One sort (C speed, about 7 ns an index, and nearly free for indexes that arrived in order), then only the
    gaps are looked for: a run of the sorted indexes is gap-free exactly when its last minus its first equals
    its length minus one, so halving the runs that are not finds every gap in O(gaps x log(len(present)))."""
    if not present:
        return ((0, count),) if count else ()
    held = sorted(present)
    gaps: list[tuple[int, int]] = []
    if held[0] > 0:
        gaps.append((0, held[0]))
    runs = [(0, len(held))]
    while runs:
        lo, hi = runs.pop()
        if held[hi - 1] - held[lo] == hi - 1 - lo:
            continue  # no gap inside
        mid = (lo + hi) // 2
        if held[mid] - held[mid - 1] > 1:
            gaps.append((held[mid - 1] + 1, held[mid]))
        runs.append((mid, hi))
        runs.append((lo, mid))
    if held[-1] + 1 < count:
        gaps.append((held[-1] + 1, count))
    gaps.sort()
    return tuple(gaps)


def size(ranges: Ranges) -> int:
    """How many indexes ``ranges`` holds."""
    return sum(end - start for start, end in ranges)


def indexes(ranges: Ranges) -> Iterator[int]:
    for start, end in ranges:
        yield from range(start, end)


def from_indexes(sorted_indexes: list[int]) -> Ranges:
    """The ranges of a sorted list of distinct indexes (for a seed-style answer of ids)."""
    out: list[tuple[int, int]] = []
    for index in sorted_indexes:
        if out and out[-1][1] == index:
            out[-1] = (out[-1][0], index + 1)
        else:
            out.append((index, index + 1))
    return tuple(out)


def intersect(a: Ranges, b: Ranges) -> Ranges:
    """The indexes in both: one merge pass, O(len(a) + len(b))."""
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def without(ranges: Ranges, index: int) -> Ranges:
    """``ranges`` minus one index."""
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if start <= index < end:
            out.extend(r for r in ((start, index), (index + 1, end)) if r[0] < r[1])
        else:
            out.append((start, end))
    return tuple(out)


def to_json(ranges: Ranges) -> dict[str, Any]:
    return {"needed": size(ranges), "ranges": [[start, end] for start, end in ranges]}


def parse(data: Any, count: int) -> Ranges:
    """A compact answer for a file of ``count`` chunks, checked: ``WireError`` says what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("ranges"), list):
        raise WireError(f"expected {{needed, ranges}}, got {type_name(data)}")
    out: list[tuple[int, int]] = []
    for item in data["ranges"]:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in item)
        ):
            raise WireError(f"a range must be [start, end] of two integers, got {shown(item)}")
        start, end = item
        if not (0 <= start < end <= count) or (out and start <= out[-1][1]):
            raise WireError(
                f"range {shown(item)} is not increasing, disjoint and within the file's {count} chunks"
            )
        out.append((start, end))
    ranges = tuple(out)
    if data.get("needed") != size(ranges):
        raise WireError(f"needed is {shown(data.get('needed'))}, but the ranges hold {size(ranges)} chunks")
    return ranges
