"""One round of segment requests: ``parallel`` lanes, each fetching one missing segment after another, until
none is left, the file turns out to have changed, or something stops new segments (the download's
``rounds.py``).

A segment (``SegmentFetcher``) is one range request whose body is written to the partial file piece by piece
as it arrives, at its offset (so a lane holds one piece at a time, never a whole segment). When the answer
carries ``Content-Digest``, the bytes written are then checked against it (``PartialFile.sha256``: in the
browser, one read of the segment and the browser's own SHA-256). Once its last byte is written (and matches
the digest) the segment has landed: the controller then commits the journal (bytes flushed first). A round ends
(``RoundEnd``):

- DONE: no segment is missing;
- STOPPED: the download was paused (``stopping()``); the requests in flight were let finish, and count;
- CHANGED: an answer showed the file is not the version the download started with (``200`` instead of
  ``206`` for ``If-Range``, another size or ETag): the other lanes are aborted at once (their bytes belong
  to the old version) and the download starts over;

or, once the requests in flight are in, raises the first error that fails the download (a 4xx, no space, a
segment damaged once too often), else the first one worth a retry (no answer, a body cut short, 5xx, 408,
429: the controller waits and starts a new round). A segment whose bytes do not match its
``Content-Digest`` stays missing and its lane fetches it again at once, at most ``max_refetches`` times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from . import download_http as wire_http
from .download_http import PartVerdict
from .download_plan import MissingSegments, Segment, SegmentPlan
from .download_ports import PartialFile, StreamTransport
from .errors import EngineError, Err, TransportError, internal
from .retry import Action, classify


class RoundEnd(Enum):
    DONE = "done"
    STOPPED = "stopped"
    CHANGED = "changed"


class Fetched(Enum):
    LANDED = "landed"  # every byte written, and matching the part's digest if it had one
    CHANGED = "changed"  # the answer is of another version of the file
    DAMAGED = "damaged"  # the bytes did not match the part's Content-Digest


@dataclass(frozen=True)
class SegmentFetcher:
    """How a download fetches one segment of one version of the file into its partial file."""

    transport: StreamTransport
    file: PartialFile
    url: str
    plan: SegmentPlan
    etag: str
    want_digest: bool = True
    timeout: float | None = None  # for the answer's head
    stall_timeout: float | None = None  # for each piece of the body: a connection that stalls is cut
    seen_repr_digest: Callable[[bytes], None] | None = None  # Repr-Digest on an answer of this version

    async def fetch(self, segment: Segment, progress: Callable[[int], None]) -> Fetched:
        """Fetch ``segment``; ``progress(n)`` with the bytes of it written so far."""
        req = wire_http.segment_request(
            self.url,
            segment,
            self.etag,
            ranged=self.plan.ranged,
            want_digest=self.want_digest,
            timeout=self.timeout,
        )
        resp = await self.transport.open(req)
        try:
            verdict = wire_http.check_part(
                resp.status, resp.headers, segment, self.plan.size, self.etag, self.plan.ranged
            )
            if verdict is None:
                raise wire_http.server_error(resp.status, await resp.text())
            if verdict is PartVerdict.CHANGED:
                return Fetched.CHANGED
            repr_digest = wire_http.parse_digests(resp.headers.get("repr-digest")).get(wire_http.SHA256)
            if repr_digest is not None and self.seen_repr_digest is not None:
                self.seen_repr_digest(repr_digest)
            expected = wire_http.parse_digests(resp.headers.get("content-digest")).get(wire_http.SHA256)
            position = segment.start
            pieces = resp.pieces().__aiter__()
            while True:
                try:
                    piece = await asyncio.wait_for(pieces.__anext__(), self.stall_timeout)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise TransportError(f"no byte arrived for {self.stall_timeout:g} s") from None
                if position + len(piece) > segment.end:
                    raise TransportError(f"the answer is longer than the {segment.size} bytes asked for")
                await self.file.write(position, piece)
                position += len(piece)
                progress(position - segment.start)
            if position != segment.end:
                raise TransportError(
                    f"the answer ended after {position - segment.start} of {segment.size} bytes"
                )
            if expected is not None and await self.file.sha256(segment.start, segment.end) != expected:
                return Fetched.DAMAGED
            return Fetched.LANDED
        finally:
            await resp.aclose()


class SegmentRound:
    """One round over the segments in ``missing`` (which it updates); ``run`` it once."""

    def __init__(
        self,
        fetcher: SegmentFetcher,
        missing: MissingSegments,
        *,
        parallel: int,
        max_refetches: int,
        refetches: dict[int, int],
        stopping: Callable[[], bool],
        on_change: Callable[[], None],
        land: Callable[[Segment], Awaitable[None]],
    ) -> None:
        """``refetches``: damaged answers per segment so far (kept by the controller across rounds);
        ``land``: called once a segment's bytes are all written and checked (the controller commits);
        ``on_change``: when a segment starts, makes progress or ends."""
        self._fetcher = fetcher
        self._missing = missing
        self._parallel = parallel
        self._max_refetches = max_refetches
        self._refetches = refetches
        self._stopping = stopping
        self._on_change = on_change
        self._land = land
        self.arrived: dict[int, int] = {}  # bytes written so far of each segment in flight
        self.damaged = 0  # answers whose bytes did not match their Content-Digest (fetched again)
        self._lanes: list[asyncio.Future[None]] = []
        self._changed = False
        self._fatal: EngineError | None = None
        self._retryable: EngineError | None = None

    async def run(self) -> RoundEnd:
        self._lanes = [asyncio.ensure_future(self._lane()) for _ in range(self._parallel)]
        try:
            await asyncio.gather(*self._lanes, return_exceptions=True)
        finally:
            for lane in self._lanes:  # only when cancelled (or a bug): abort what is still in flight
                lane.cancel()
            self._missing.in_flight.clear()
            self.arrived.clear()
        if self._fatal is not None:
            raise self._fatal
        if self._changed:
            return RoundEnd.CHANGED
        if not self._missing:
            return RoundEnd.DONE
        if self._stopping():
            return RoundEnd.STOPPED
        if self._retryable is not None:
            raise self._retryable
        raise EngineError(Err.INTERNAL, "a round of segments ended with segments missing and no reason")

    def _stopped(self) -> bool:
        learned = self._changed or self._fatal is not None or self._retryable is not None
        return learned or self._stopping()

    async def _lane(self) -> None:
        while not self._stopped():
            segment = self._missing.next_free()
            if segment is None:
                return
            index = segment.index
            self._missing.in_flight.add(index)
            self.arrived[index] = 0
            self._on_change()
            try:
                fetched = await self._fetcher.fetch(segment, lambda n, i=index: self._progress(i, n))
                if fetched is Fetched.LANDED:
                    self.arrived.pop(index, None)  # counted as landed from now on, not twice
                    self._missing.landed(index)
                    self._refetches.pop(index, None)
                    await self._land(segment)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                self._failed(exc)
            else:
                if fetched is Fetched.CHANGED:
                    self._change()
                elif fetched is Fetched.DAMAGED:
                    self._damaged(segment)
            finally:
                self._missing.in_flight.discard(index)
                self.arrived.pop(index, None)
            self._on_change()

    def _progress(self, index: int, arrived: int) -> None:
        if index in self.arrived:
            self.arrived[index] = arrived
            self._on_change()

    def _change(self) -> None:
        self._changed = True
        current = asyncio.current_task()
        for lane in self._lanes:  # the other lanes fetch bytes of the old version: abort them now
            if lane is not current:
                lane.cancel()

    def _damaged(self, segment: Segment) -> None:
        self.damaged += 1
        count = self._refetches[segment.index] = self._refetches.get(segment.index, 0) + 1
        if count > self._max_refetches and self._fatal is None:
            self._fatal = EngineError(
                Err.SEGMENT_DAMAGED,
                f"bytes {segment.start}-{segment.end - 1} did not match their Content-Digest {count} times",
            )

    def _failed(self, exc: Exception) -> None:
        action = classify(exc) if isinstance(exc, EngineError) else Action.FAIL
        if action is Action.RETRY:
            assert isinstance(exc, EngineError)
            self._retryable = self._retryable or exc
        elif self._fatal is None:
            self._fatal = exc if isinstance(exc, EngineError) else internal(exc)
