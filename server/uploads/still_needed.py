"""What a chunked upload still needs, as the service answers it: the chunk list and the missing indexes.

The service computes the missing indexes as ranges (``wire.needed_ranges.missing``) under the file's lock,
cheaply whatever the chunk count; the handler then renders them either as the seed's list of ids (built only
then, O(chunks still needed)) or as the compact ``{needed, ranges}`` a client asked for with
``?answer=ranges``. As a sequence it is the list of ids still needed, in file order (what the seed answers).

``RecentAnswers`` keeps the last answer per upload, so the next one, a chunk later, costs O(ranges) instead of
a sort of every stored index: measured, the sort was a third of what a chunk's CPU grew by between 1,000 and
16,000 chunks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from typing import Any, overload

from server.storage.contract import Upload
from wire import needed_ranges
from wire.needed_ranges import Ranges


class StillNeeded(Sequence[str]):
    __slots__ = ("_count", "chunk_ids", "ranges")

    def __init__(self, chunk_ids: tuple[str, ...], ranges: Ranges) -> None:
        self.chunk_ids = chunk_ids
        self.ranges = ranges
        self._count = needed_ranges.size(ranges)

    @classmethod
    def of(cls, chunk_ids: tuple[str, ...], stored: Collection[int]) -> StillNeeded:
        """The chunks of ``chunk_ids`` whose index is not in ``stored``."""
        return cls(chunk_ids, needed_ranges.missing(len(chunk_ids), stored))

    def ids(self) -> list[str]:
        """The seed's answer: the ids still needed, in file order."""
        return [self.chunk_ids[index] for index in needed_ranges.indexes(self.ranges)]

    def render(self, compact: bool) -> Any:
        """``data`` of the answer: the compact form, or the seed's list."""
        return needed_ranges.to_json(self.ranges) if compact else self.ids()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return (self.chunk_ids[index] for index in needed_ranges.indexes(self.ranges))

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        return self.ids()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StillNeeded):
            return self.chunk_ids == other.chunk_ids and self.ranges == other.ranges
        return isinstance(other, Sequence) and not isinstance(other, str) and self.ids() == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StillNeeded(needed={self._count}, ranges={self.ranges!r})"


COMPLETE = StillNeeded((), ())
"""Nothing is needed: the file is complete (the seed's ``[]``)."""


class RecentAnswers:
    """What each recently answered upload still needed, and how many bytes it held, to derive the next answer
    from the last one."""

    def __init__(self, uploads: int = 256) -> None:
        self._uploads = uploads
        # (key, created_at) -> (chunks stored, ranges still needed, bytes stored)
        self._last: OrderedDict[tuple[str, float], tuple[int, Ranges, int]] = OrderedDict()

    def of(self, upload: Upload, added: int | None = None) -> StillNeeded:
        """What ``upload`` still needs; ``added``: the index of the one chunk kept since the last answer, if
        that is all that changed (then the last answer less that chunk is the answer, when the counts agree;
        anything else, e.g. chunks kept by another process, is computed afresh)."""
        assert upload.chunk_ids is not None, "a chunked upload"
        key, stored, count = (upload.key, upload.created_at), upload.stored, len(upload.chunk_ids)
        last = self._last.pop(key, None)
        found: tuple[Ranges, int] | None = None
        if last is not None and added is not None and len(stored) == last[0] + 1 and added in stored:
            ranges = needed_ranges.without(last[1], added)
            if needed_ranges.size(ranges) == count - len(stored):  # else the last answer did not list it
                found = ranges, last[2] + stored[added]
        if found is None:
            found = needed_ranges.missing(count, stored), sum(stored.values())
        if found[0]:
            self._last[key] = (len(stored), *found)
            while len(self._last) > self._uploads:
                self._last.popitem(last=False)
        return StillNeeded(upload.chunk_ids, found[0])

    def stored_bytes(self, upload: Upload) -> int:
        """The bytes ``upload`` holds: from its last answer when it still holds as many chunks, else summed."""
        last = self._last.get((upload.key, upload.created_at))
        stored = upload.stored
        return last[2] if last is not None and last[0] == len(stored) else sum(stored.values())

    def forget(self, upload: Upload) -> None:
        """Chunks of ``upload`` were dropped: its next answer is computed afresh."""
        self._last.pop((upload.key, upload.created_at), None)
