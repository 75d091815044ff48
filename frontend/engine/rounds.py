"""One round of chunk requests: lanes (as many as ``in_flight.py`` asks, more as the link shows it needs
them), each sending one needed chunk after another, until none is left, an answer says [] or something stops
new chunks.

Each request is a form (chunkId, fileId, then the file part: a ``FileRange`` the transport slices or reads as
it sends, so at most one chunk per lane is in memory), and each answer what the server still needs
(``needed.py`` keeps it). A round ends (``RoundEnd``):

- DONE: an answer said []: the server has assembled the file;
- STOPPED: the upload was paused (``stopping()``); the requests in flight were let finish, and counted;
- ASK_SERVER: the server lost the upload (404 UNKNOWN_UPLOAD) or found stored chunks damaged when it
  assembled the file (422 CHUNKS_DAMAGED, naming them), or nothing is left to send but no answer said []
  (another client finished the file, or the server lost its state): handshake again;

or, once the requests in flight are in, raises the first error that fails the upload (another 4xx, a chunk
or a round of damage too many: ``ResendBudget``, a file that changed: ``checking.py``), else the first one
worth a retry (no answer, 5xx, 408, 429: the controller waits and handshakes again). Any of these stops new
chunks in every lane; the round never aborts a request (a half-sent chunk is wasted): only cancelling the
task that awaits ``run`` does.

A chunk refused as it arrived (422 CHUNK_MISMATCH: damaged on the way, not stored) stays needed, and its
lane sends it again at once, before any other.

One long-lived task per lane, not one per chunk: under Pyodide every task switch is a trip through the
browser's event loop, and per chunk a lane needs only its request's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from wire.needed_ranges import Ranges

from . import protocol
from .checking import check_damaged, checked_chunk
from .chunking import Chunk, ChunkPlan
from .errors import EngineError, ServerError, TransportError, internal
from .needed import NeededChunks
from .ports import FileRange, FileSource, Transport
from .retry import Action, ResendBudget, classify


class RoundEnd(Enum):
    DONE = "done"
    STOPPED = "stopped"
    ASK_SERVER = "ask_server"


@dataclass(frozen=True)
class ChunkSender:
    """How an upload sends one chunk, and checks the chunk again when its request fails (``checking.py``)."""

    source: FileSource
    transport: Transport
    base_url: str
    timeout: float | None = None
    stall_timeout: float | None = None  # seconds without progress before the transport gives a request up
    verify: bool = False  # read and check each chunk before sending it (sources that are not snapshots)

    async def send(self, plan: ChunkPlan, chunk: Chunk) -> Ranges:
        """Post ``chunk``; the chunks the server still needs. Raises what the request and the check found."""
        data: bytes | FileRange
        if self.verify:
            data = await checked_chunk(self.source, chunk)
        else:
            data = FileRange(self.source, chunk.start, chunk.end)
        req = protocol.chunk_request(
            self.base_url,
            plan.file_id,
            chunk.id,
            data,
            timeout=self.timeout,
            stall_timeout=self.stall_timeout,
        )
        try:
            resp = await self.transport.request(req)
            return protocol.needed_of(protocol.envelope_data(resp), plan)
        except TransportError:
            await checked_chunk(self.source, chunk)  # the file may be why the request failed
            raise
        except ServerError as exc:
            action = classify(exc)  # changed, or damaged on the way: tell which
            if action is Action.RESEND_CHUNK:
                await checked_chunk(self.source, chunk)
            elif action is Action.RESEND_DAMAGED:
                await check_damaged(self.source, plan, exc)
            raise


class ChunkRound:
    """One round over the chunks in ``needed`` (which it updates with every answer); ``run`` it once."""

    def __init__(
        self,
        sender: ChunkSender,
        plan: ChunkPlan,
        needed: NeededChunks,
        budget: ResendBudget,
        *,
        lanes: Callable[[], int],
        stopping: Callable[[], bool],
        on_change: Callable[[], None],
        on_stored: Callable[[Chunk], None],
        on_answered: Callable[[float, int], None] = lambda seconds, in_flight: None,
        now: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """``lanes``: how many chunks to keep in flight (read at the start and after each answer: the round
        adds lanes when it grows); ``stopping``: whether new chunks must not start (the upload is paused);
        ``on_change``: called when a chunk starts or ends; ``on_stored``: with each chunk the server
        confirmed; ``on_answered``: with each chunk answered 200, its request's seconds (by ``now``) and the
        requests in flight then, this one included."""
        self._sender = sender
        self._plan = plan
        self._needed = needed
        self._budget = budget
        self._lanes_wanted = lanes
        self._lanes: list[asyncio.Future[None]] = []
        self._stopping = stopping
        self._on_change = on_change
        self._on_stored = on_stored
        self._on_answered = on_answered
        self._now = now
        # What the lanes learned; any of it stops new chunks.
        self._done = False  # an answer said []
        self._ask_server = False  # 404 UNKNOWN_UPLOAD, or 422 CHUNKS_DAMAGED
        self._fatal: EngineError | None = None
        self._retryable: EngineError | None = None

    async def run(self) -> RoundEnd:
        self._widen()
        try:
            while not all(lane.done() for lane in self._lanes):  # lanes may be added meanwhile
                await asyncio.gather(*self._lanes)
        finally:
            for lane in self._lanes:  # only when cancelled (or a bug): abort what is still in flight
                lane.cancel()
            self._needed.in_flight.clear()
        if self._done:
            return RoundEnd.DONE
        if self._fatal is not None:
            raise self._fatal
        if self._stopping():
            return RoundEnd.STOPPED
        if self._ask_server:
            return RoundEnd.ASK_SERVER
        if self._retryable is not None:
            raise self._retryable
        return RoundEnd.ASK_SERVER  # nothing left to send, but no answer said []

    def _widen(self) -> None:
        """Start lanes until as many are running as wanted (never fewer than one)."""
        running = sum(not lane.done() for lane in self._lanes)
        for _ in range(max(1, self._lanes_wanted()) - running):
            self._lanes.append(asyncio.ensure_future(self._lane()))

    def _stopped(self) -> bool:
        learned = self._done or self._ask_server or self._fatal is not None or self._retryable is not None
        return learned or self._stopping()

    async def _lane(self) -> None:
        """Send needed chunks one at a time until none is free or the round stops."""
        while not self._stopped():
            chunk = self._needed.next_free()
            if chunk is None:
                return  # the rest is in flight in other lanes (a chunk sent again goes with its lane)
            self._needed.in_flight.add(chunk.id)
            self._on_change()
            started = self._now()
            try:
                answer = await self._sender.send(self._plan, chunk)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified (retry.classify)
                self._needed.in_flight.discard(chunk.id)
                self._failed(chunk, exc)
            else:
                in_flight = len(self._needed.in_flight)
                self._needed.in_flight.discard(chunk.id)
                self._needed.confirm(chunk.id, answer)
                self._budget.chunk_stored(chunk.id)
                self._on_stored(chunk)
                self._on_answered(self._now() - started, in_flight)
                if not answer:
                    self._done = True
                elif not self._stopped():
                    self._widen()
            self._on_change()

    def _failed(self, chunk: Chunk, exc: Exception) -> None:
        """What one chunk's failure means for the round."""
        action = classify(exc) if isinstance(exc, EngineError) else Action.FAIL
        if action is Action.RESEND_CHUNK:  # it stays needed: the lane takes it again next (file order)
            assert isinstance(exc, ServerError)
            spent = self._budget.chunk_refused(chunk.id, exc)
            self._fatal = self._fatal or spent
        elif action is Action.RESEND_DAMAGED:
            assert isinstance(exc, ServerError)
            spent = self._budget.damaged_round(exc)
            self._fatal = self._fatal or spent
            self._ask_server = True
        elif action is Action.REHANDSHAKE:
            self._ask_server = True
        elif action is Action.RETRY:
            assert isinstance(exc, EngineError)
            self._retryable = self._retryable or exc
        elif self._fatal is None:
            self._fatal = exc if isinstance(exc, EngineError) else internal(exc)
