"""The upload controller: one file from "chosen" to "finished", resumable, over the ports.

Flow (the seed's, made parallel and robust)::

    hash (one streaming pass) -> handshake {fileId, ext, chunkIds, name, size}
      -> data is a URL: FINISHED at once (the server already has this content)
      -> data is a list: rounds of chunk requests (``rounds.py``: ``parallel`` lanes, each sending one needed
         chunk after another); each answer is the list the server still needs (``needed.py``)
         -> FINISHED when an answer is [].

The controller holds the state (``state.py``: ``ControlState``, shown to the UI as ``UploadState``) and the
one task that does the work, its run: ``start()`` (or ``prepare()``) begins a run, and the run ends when
the state comes to rest. Decisions:

- **Pause.** ``pause()`` moves to PAUSING at once (shown PAUSED): rounds start no new chunk, and the
  requests in flight finish (they are not aborted: a half-sent chunk is wasted, a finished one is
  progress); their answers still count, so a paused upload may even finish. Once they are in: PAUSED, and
  the run ends. ``resume()`` ("continue") from PAUSED begins a new run; while PAUSING it moves to RESUMING,
  and the same run, once its requests are in, asks the server what it needs and goes on.
- **Failures** (``retry.classify``): no answer, 5xx, 408, 429 -> wait a full-jitter backoff (RETRYING; a
  pause or ``retry_now()`` cuts it short), handshake again and go on; confirmed chunks are never resent,
  and the count of tries starts over whenever a chunk is confirmed. The server lost the upload or found
  stored chunks damaged -> handshake again (at most ``max_rehandshakes`` times in a row without progress).
  A chunk damaged on the way is sent again by its round. Other 4xx -> FAILED with the server's message.
- **The file changed** since it was hashed: FAILED with FILE_CHANGED (``checking.py``: when a chunk is read
  again). With a plan the page remembered (``plan=``, ``plan_cache.py``) the file may have changed before it
  was chosen, its name, size and modification time kept: then the controller hashes it again and goes on
  (once; ``rehashed`` says so). The server's checks tell: a chunk refused as it arrived (422
  CHUNK_MISMATCH, then read again: FILE_CHANGED) or an assembled file that is not ``fileId`` (422
  FILE_MISMATCH). A remembered plan goes straight to UPLOADING (its first handshake is not "hashing").
- **Cancellation.** ``cancel()`` aborts the run, in-flight requests included (the transport sees
  ``CancelledError``); the upload ends PAUSED (or CHOSEN if it was hashing) and can be resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from wire.errors import ErrorName
from wire.needed_ranges import Ranges

from . import proof, protocol
from .checking import check_damaged
from .chunking import CHUNK_SIZE, Chunk, ChunkPlan
from .errors import EngineError, Err, IllegalTransition, ServerError, internal
from .hashing import hash_file, upload_name
from .in_flight import InFlight
from .needed import NeededChunks
from .ports import Clock, FileSource, Listener, Transport, UploadSnapshot
from .progress import RateMeter, byte_percent, chunk_percent, eta
from .retry import STALL_TIMEOUT, Action, ResendBudget, RetryPolicy, classify
from .retry_loop import PAUSED, Paused, RetryLoop
from .rounds import ChunkRound, ChunkSender, RoundEnd
from .state import ACTIVE, DRAINING, RESTING, ControlState, StateMachine, UploadState, can_go

log = logging.getLogger(__name__)
S = UploadState
C = ControlState
T = TypeVar("T")


@dataclass(frozen=True)
class UploadConfig:
    chunk_size: int = CHUNK_SIZE  # the seed's 1 MiB; the server must see the same chunk list to resume
    parallel: int = 3  # chunk requests in flight at once, at least
    max_parallel: int = 6  # at most, as the link asks (in_flight.py); = parallel for a fixed number
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_chunk_resends: int = 3  # per chunk after 422 CHUNK_MISMATCH; rounds of 422 CHUNKS_DAMAGED per upload
    max_rehandshakes: int = 3  # in a row without progress, after 404 UNKNOWN_UPLOAD / an empty needed set
    # No bound on a whole exchange by default: a request that stops making progress is caught by
    # ``stall_timeout``, while a total bound would fail every chunk of a slow link (1 MiB at 64 kbit/s takes
    # 131 s). Passed to the transport in each HttpRequest.
    request_timeout: float | None = None
    stall_timeout: float | None = STALL_TIMEOUT  # seconds without progress, likewise (retry.py: why 60 s)
    verify_chunks: bool = False  # read and re-hash each chunk before sending it (sources that are not
    # snapshots); by default the transport slices the file itself and a chunk is checked only when it fails
    speed_window: float = 5.0  # seconds of history for the speed
    hash_block_size: int | None = None  # bytes per read while hashing; None = chunk_size
    send_name: bool = True  # send the file's name in the handshake (for downloads' Content-Disposition)
    token: str | None = field(default=None, repr=False)  # --auth-secret: sent on every request (proof.py)

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ValueError(f"parallel must be at least 1, got {self.parallel}")
        if self.max_parallel < self.parallel:
            raise ValueError(
                f"max_parallel ({self.max_parallel}) must be at least parallel ({self.parallel})"
            )
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {self.chunk_size}")
        if self.stall_timeout is not None and not self.stall_timeout > 0:
            raise ValueError(f"stall_timeout must be positive (or None), got {self.stall_timeout}")


class _Outcome(Enum):
    DONE = "done"  # the server has the whole file (or the run was paused: ``retry_loop.PAUSED``)


class UploadController:
    """Uploads one file. Create it when the user chooses a file; drive it with start/pause/resume."""

    def __init__(
        self,
        source: FileSource,
        transport: Transport,
        *,
        base_url: str,
        config: UploadConfig | None = None,
        clock: Clock | None = None,
        listener: Listener | None = None,
        plan: ChunkPlan | None = None,
    ) -> None:
        """``base_url``: the API's absolute origin, e.g. ``"http://127.0.0.1:8000"``. ``plan``: a chunk plan
        computed before for this very file (``ChunkPlan.from_dict`` of a cached ``to_dict``): no hashing."""
        self.source = source
        self.config = config or UploadConfig()
        self.transport = transport = proof.authorized(transport, self.config.token)
        self.base_url = base_url.rstrip("/")
        self.clock = clock or Clock()
        self._listeners: list[Listener] = [listener] if listener is not None else []
        self._sm = StateMachine()
        self._plan = plan
        self._remembered = plan is not None  # a plan from before: the file may not match it (re-hash once)
        self.rehashed = False  # True once a remembered plan did not fit the file and it was hashed again
        self._needed: NeededChunks | None = None  # None until a handshake has answered
        self._budget = ResendBudget(self.config.max_chunk_resends)
        self._in_flight = InFlight(self.config.parallel, self.config.max_parallel, self.config.chunk_size)
        self._sender = ChunkSender(
            source,
            transport,
            self.base_url,
            timeout=self.config.request_timeout,
            stall_timeout=self.config.stall_timeout,
            verify=self.config.verify_chunks,
        )
        self._task: asyncio.Task[None] | None = None  # the run (going exactly in the ACTIVE states)
        self._prepare_only = False  # the run ends once the first handshake has answered (CHOSEN)
        self._retry = RetryLoop(self.config.retry, self.clock)
        self._url: str | None = None
        self._hashed = 0
        self._sent = 0  # bytes this controller sent and the server confirmed (for the speed)
        self._meter = RateMeter(self.config.speed_window)
        self.snapshot = self._make_snapshot()
        self._go(C.CHOSEN)  # a controller exists for a chosen file
        self._emit()

    # ------------------------------------------------------------------ what the UI reads and calls

    @property
    def state(self) -> UploadState:
        return self._sm.state.shown

    @property
    def plan(self) -> ChunkPlan | None:
        """The chunk plan once hashed (cache ``plan.to_dict()`` to skip hashing after a reload)."""
        return self._plan

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every new snapshot (and once now); returns a function that unsubscribes."""
        self._listeners.append(listener)
        self._call(listener, self.snapshot)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def prepare(self) -> UploadSnapshot:
        """Hash the file and ask the server what it needs, without uploading: ends CHOSEN (ready to start),
        or FINISHED if the server already has the file. Only from CHOSEN."""
        if self._sm.state is not C.CHOSEN:
            raise IllegalTransition(self.state, S.HASHING)
        self._launch(prepare_only=True)
        return await self.wait()

    def start(self) -> asyncio.Task[None]:
        """Start or continue uploading in a background task (from CHOSEN, PAUSED, or FAILED = retry).

        Calling it while a run is going is harmless (returns that run); calling it during ``prepare()``
        makes that run go on uploading, and while a pause waits for its requests, goes on after them."""
        state = self._sm.state
        if state is C.PAUSING:
            self._go(C.RESUMING)
        elif state in ACTIVE:
            self._prepare_only = False
        elif state in (C.CHOSEN, C.PAUSED, C.FAILED):
            return self._launch(prepare_only=False)
        else:
            raise IllegalTransition(self.state, S.UPLOADING)
        assert self._task is not None  # a run is going in every ACTIVE state
        return self._task

    resume = start  # "continue" in the seed's words

    def pause(self) -> None:
        """Stop starting chunks; in-flight ones finish. The state is PAUSED at once. No-op when PAUSED."""
        state = self._sm.state
        if state in (C.PAUSING, C.PAUSED):
            return
        if not can_go(state, C.PAUSING):  # nothing is uploading
            raise IllegalTransition(self.state, S.PAUSED)
        self._go(C.PAUSING)  # from RESUMING: the continue is called off
        self._retry.wake()
        self._emit()

    def retry_now(self) -> None:
        """Skip the rest of the backoff wait (e.g. when the browser comes back online)."""
        if self._sm.state is C.RETRYING:
            self._retry.wake()

    async def cancel(self) -> UploadSnapshot:
        """Abort the current run at once, in-flight requests included. Ends PAUSED (CHOSEN if hashing)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        self._settle_cancelled()  # a run cancelled before its first step could not
        return self.snapshot

    async def wait(self) -> UploadSnapshot:
        """Wait until the current run stops (finished, failed, paused, or prepared); the snapshot then."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})
        return self.snapshot

    async def upload(self) -> UploadSnapshot:
        """Start and wait: the whole upload in one call (scripts, tests). Ends FINISHED, FAILED or PAUSED."""
        self.start()
        return await self.wait()

    # ------------------------------------------------------------------ the run

    def _launch(self, prepare_only: bool) -> asyncio.Task[None]:
        """Begin a run from a resting state. Its first state is taken at once, so the state always says
        whether a run is going (a pause right after ``start()`` pauses it)."""
        origin = self._sm.state
        # A remembered plan starts uploading at once (its handshake is the first step of UPLOADING), unless
        # only prepared: ``prepare()`` ends CHOSEN, which only HASHING leads back to.
        prepared_plan = origin is C.CHOSEN and self._needed is None and (prepare_only or not self._remembered)
        hashing = self._plan is None or prepared_plan
        self._prepare_only = prepare_only
        self._retry.fresh()  # a new run (the user retried) gets the whole retry budget again
        if hashing:
            self._go(C.HASHING)
            self._emit()
        else:
            self._begin_uploading()
        # Prepared (CHOSEN): the handshake's answer is at hand, as the seed's start button uses it; a stale
        # answer corrects itself (404 -> handshake). Continuing (PAUSED/FAILED): ask the server first.
        handshake_first = origin is not C.CHOSEN or self._needed is None
        self._task = asyncio.create_task(self._run(hashing, handshake_first=handshake_first))
        return self._task

    async def _run(self, hashing: bool, handshake_first: bool) -> None:
        try:
            try:
                await self._stages(hashing, handshake_first)
            except EngineError as exc:
                if not self._plan_misfits(exc):
                    raise
                self._drop_plan(exc)
                if self._sm.state in DRAINING:
                    raise  # paused meanwhile: FAILED, and the retry hashes
                self._go(C.FAILED)  # the table's retry edge (FAILED -> HASHING); the failure is not shown
                self._go(C.HASHING)
                self._emit()
                await self._stages(True, False)
        except asyncio.CancelledError:
            self._settle_cancelled()
            raise
        except EngineError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug here or in a port: fail visibly, never hang
            log.exception("upload of %r failed unexpectedly", self.source.name)
            self._fail(internal(exc))

    async def _stages(self, hashing: bool, handshake_first: bool) -> None:
        if hashing:
            # Stage 1: HASHING = compute the ids, then the first handshake.
            if self._plan is None:
                await self._hash()
            result = await self._with_retries(C.HASHING, self._handshake)
            if result is PAUSED:  # paused while waiting to retry
                if not self._drained():
                    return
                handshake_first = True
            elif (
                isinstance(result, str) or not result
            ):  # the seed: `needs = []` -> finished, link to the file
                self._finish(result or self._default_url())
                return
            else:
                self._needed = NeededChunks(self._plan_or_fail(), result)
                if self._prepare_only:
                    self._go(C.CHOSEN)
                    self._emit()
                    return
                handshake_first = False
                self._begin_uploading()
        # Stage 2: UPLOADING, until the server has the file or a pause has drained the run.
        while True:
            first = handshake_first

            async def session() -> _Outcome | Paused:
                nonlocal first
                try:
                    return await self._session(first)
                finally:
                    first = True  # after a failure, ask the server again

            if await self._with_retries(C.UPLOADING, session) is _Outcome.DONE:
                self._finish(self._default_url())
                return
            if not self._drained():
                return
            handshake_first = True  # continuing: ask the server what it needs first

    def _drained(self) -> bool:
        """A paused run's requests are in: PAUSED, and the run ends (False); or, if it was continued
        meanwhile, UPLOADING again like a new run, with the whole retry budget (True)."""
        if self._sm.state is C.RESUMING:
            self._retry.fresh()
            self._begin_uploading()
            return True
        self._go(C.PAUSED)
        self._emit()
        return False

    def _begin_uploading(self) -> None:
        self._go(C.UPLOADING)
        self._meter.reset(self.clock.now(), self._sent)  # paused time does not count in the speed
        self._emit()

    def _default_url(self) -> str:
        """The link when no answer gave one: the seed's `${base}/upload/${fileId}${ext}`, with the name the
        handshake sent (``?name=``), as the server answers it."""
        plan = self._plan_or_fail()
        return protocol.file_url(self.base_url, plan.file_id, plan.ext, self._name())

    def _name(self) -> str | None:
        """The ``name`` the handshake sends (and the link carries), if any."""
        return upload_name(self.source.name) if self.config.send_name else None

    def _plan_misfits(self, exc: EngineError) -> bool:
        """Whether ``exc`` says that the remembered plan is not this file's: a chunk is not what the plan
        says (FILE_CHANGED), or the server assembled the plan's chunks into another file (FILE_MISMATCH)."""
        mismatch = isinstance(exc, ServerError) and exc.server_error == ErrorName.FILE_MISMATCH
        return self._remembered and (exc.kind is Err.FILE_CHANGED or mismatch)

    def _drop_plan(self, exc: EngineError) -> None:
        """Forget the remembered plan: the file is hashed again (once: a plan computed here is the file's)."""
        log.info("%r does not match its remembered plan (%s): hashing it again", self.source.name, exc)
        self._remembered = False
        self.rehashed = True
        self._plan = self._needed = None
        self._retry.error = None
        self._retry.attempt = 0

    async def _hash(self) -> None:
        self._hashed = 0
        self._meter.reset(self.clock.now(), 0)
        self._emit()

        def progress(done: int) -> None:
            self._hashed = done
            self._meter.add(self.clock.now(), done)
            self._emit()

        self._plan = await hash_file(
            self.source,
            chunk_size=self.config.chunk_size,
            block_size=self.config.hash_block_size,
            on_progress=progress,
        )
        self._hashed = self._plan.size
        self._emit()

    @property
    def _stopping(self) -> bool:
        """Paused: no new request starts."""
        return self._sm.state in DRAINING

    async def _with_retries(self, phase: ControlState, step: Callable[[], Awaitable[T]]) -> T | Paused:
        """Run ``step`` in the retry loop (``retry_loop.py``), going back to ``phase`` after each wait."""

        def retrying() -> None:
            self._go(C.RETRYING)
            self._emit()

        def resumed() -> None:
            self._go(phase)
            self._emit()

        return await self._retry.run(
            step, stopping=lambda: self._stopping, on_retrying=retrying, on_resumed=resumed
        )

    async def _handshake(self) -> str | Ranges:
        plan = self._plan_or_fail()
        req = protocol.handshake_request(
            self.base_url,
            plan,
            name=self._name(),
            timeout=self.config.request_timeout,
            stall_timeout=self.config.stall_timeout,
        )
        while True:
            try:
                started = self.clock.now()
                resp = await self.transport.request(req)
                self._in_flight.saw_request(self.clock.now() - started)  # a small request: mostly latency
                return protocol.handshake_result(protocol.envelope_data(resp), plan)
            except ServerError as exc:
                # --auth-secret: a stored file's URL is answered only to proof of its bytes (proof.py).
                proved = await proof.answer_challenge(req, self.source, exc)
                if proved is not None:
                    req = proved
                    continue
                # A handshake assembles a file whose chunks are all stored: it may find damaged ones too.
                if classify(exc) is not Action.RESEND_DAMAGED:
                    raise
                await check_damaged(self.source, plan, exc)
                spent = self._budget.damaged_round(exc)
                if spent is not None:
                    raise spent from exc

    async def _session(self, handshake_first: bool) -> _Outcome | Paused:
        """Handshake (unless the needed set is fresh), then rounds of chunks; handshake again when a round
        asks for it. Returns DONE or PAUSED; raises the errors ``_with_retries`` deals with."""
        rehandshakes = 0
        need_handshake = handshake_first
        while True:
            if need_handshake:
                if self._stopping:  # paused before the run asked: no new request
                    return PAUSED
                result = await self._handshake()
                if isinstance(result, str) or not result:
                    self._url = result or None
                    return _Outcome.DONE
                self._needed = NeededChunks(self._plan_or_fail(), result)
                self._emit()
            sent_before = self._sent
            end = await self._round()
            if end is RoundEnd.DONE:
                return _Outcome.DONE
            if end is RoundEnd.STOPPED:
                return PAUSED
            rehandshakes = 0 if self._sent > sent_before else rehandshakes + 1
            if rehandshakes > self.config.max_rehandshakes:
                raise EngineError(
                    Err.UPLOAD_LOST_LIMIT,
                    f"the server lost this upload {rehandshakes} times in a row without progress",
                )
            need_handshake = True

    async def _round(self) -> RoundEnd:
        assert self._needed is not None  # a handshake has answered
        chunks = ChunkRound(
            self._sender,
            self._plan_or_fail(),
            self._needed,
            self._budget,
            lanes=lambda: self._in_flight.lanes,
            stopping=lambda: self._stopping,
            on_change=self._emit,
            on_stored=self._stored,
            on_answered=self._answered,
            now=self.clock.now,
        )
        return await chunks.run()

    # ------------------------------------------------------------------ bookkeeping

    def _stored(self, chunk: Chunk) -> None:
        """The server confirmed ``chunk``: progress, so the backoff starts over."""
        self._sent += chunk.size
        self._retry.attempt = 0
        self._meter.add(self.clock.now(), self._sent)

    def _answered(self, seconds: float, in_flight: int) -> None:
        """A chunk request was answered after ``seconds`` with ``in_flight`` out: the lanes may follow the
        link (``in_flight.py``)."""
        self._in_flight.chunk_answered(seconds, self._meter.rate(self.clock.now()), in_flight)

    def _finish(self, url: str | None) -> None:
        self._url = self._url or url
        self._retry.fresh()
        self._go(C.FINISHED)
        self._emit()

    def _fail(self, exc: EngineError) -> None:
        self._retry.error = exc
        self._go(C.FAILED)
        self._emit()

    def _settle_cancelled(self) -> None:
        state = self._sm.state
        if state in RESTING:
            return
        self._go(C.CHOSEN if state is C.HASHING else C.PAUSED)
        self._emit()

    def _plan_or_fail(self) -> ChunkPlan:
        if self._plan is None:
            raise EngineError(Err.INTERNAL, "no chunk plan yet")
        return self._plan

    def _go(self, target: ControlState) -> None:
        self._sm.go(target)
        if target is not C.RETRYING:
            self._retry.retry_in = None

    # ------------------------------------------------------------------ snapshots

    def _make_snapshot(self) -> UploadSnapshot:
        plan = self._plan
        state = self._sm.state.shown
        size = self.source.size
        needed = self._needed
        chunks_total = len(plan.chunks) if plan else 0
        if state is S.FINISHED:
            chunks_done, bytes_done = chunks_total, size
        elif plan is not None and needed is not None:
            chunks_done = chunks_total - len(needed)
            bytes_done = size - needed.bytes
        else:
            chunks_done = bytes_done = 0
        now = self.clock.now()
        speed = self._meter.rate(now) if state in (S.HASHING, S.UPLOADING) else None
        remaining = (size - self._hashed) if state is S.HASHING else (size - bytes_done)
        error = self._retry.error
        return UploadSnapshot(
            state=state,
            name=self.source.name,
            bytes_total=size,
            bytes_done=bytes_done,
            chunks_total=chunks_total,
            chunks_done=chunks_done,
            percent=byte_percent(bytes_done, size, finished=state is S.FINISHED),
            chunk_percent=chunk_percent(chunks_done, chunks_total),
            speed=speed,
            eta=eta(remaining, speed) if state in (S.HASHING, S.UPLOADING) else None,
            hashed_bytes=self._hashed if plan is None else size,
            hash_percent=100.0 if plan is not None else byte_percent(self._hashed, size),
            in_flight=len(needed.in_flight) if needed is not None else 0,
            file_id=plan.file_id if plan else None,
            url=self._url if state is S.FINISHED else None,
            error=error.msg if error is not None and state in (S.FAILED, S.RETRYING) else None,
            error_code=error.code if error is not None and state in (S.FAILED, S.RETRYING) else None,
            retry_in=self._retry.retry_in if state is S.RETRYING else None,
            attempt=self._retry.attempt,
        )

    def _emit(self) -> None:
        snap = self._make_snapshot()
        if snap == self.snapshot:
            return
        self.snapshot = snap
        for listener in list(self._listeners):
            self._call(listener, snap)

    @staticmethod
    def _call(listener: Listener, snap: UploadSnapshot) -> None:
        try:
            listener(snap)
        except Exception:
            log.exception("an upload listener raised")


__all__ = ["UploadConfig", "UploadController"]
