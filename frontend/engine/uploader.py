"""The upload controller: one file from "chosen" to "finished", resumable, over the ports.

Flow (the seed's, made parallel and robust)::

    hash (one streaming pass) -> handshake {fileId, ext, chunkIds, name, size}
      -> data is a URL: FINISHED at once (the server already has this content)
      -> data is a list: send those chunks, ``parallel`` senders each sending one after another (each
         form: chunkId, fileId, then the file part, a ``FileRange`` the transport slices or reads as it
         sends);
         each answer is the list the server still needs -> FINISHED when an answer is [].

Decisions:

- **Needed set.** The server's lists only shrink while it keeps its state, so the engine keeps the
  intersection of what it was told, minus each chunk confirmed by a 200 answer. Answers may arrive out of
  order; a stale list cannot resurrect a chunk. When nothing is left but no answer said [] (another client
  finished the file, or state was lost), the engine handshakes again, which gives the URL or the truth.
- **Pause.** ``pause()`` stops NEW chunks at once and the state is PAUSED immediately; chunks already in
  flight finish (they are not aborted: a half-sent chunk is wasted, a finished one is progress), and their
  answers still count, so a paused upload may even finish. ``resume()`` ("continue") waits until that run
  has wound down, then handshakes again (asks the server what it needs) and goes on.
- **Failures** (``retry.classify``): network errors and 5xx/408/429 -> stop new chunks, let in-flight ones
  finish, wait a full-jitter backoff (state RETRYING), handshake again and go on; confirmed chunks are never
  resent. 422 CHUNK_MISMATCH (the server checked the chunk as it arrived and refused it: damaged on the way)
  -> the chunk stays needed and its sender sends it again at once (at most ``max_chunk_resends`` times per
  chunk: a client whose ids are wrong would otherwise go round forever). 422 CHUNKS_DAMAGED (the server found
  chunks damaged after they were stored when it checked the assembled file, and dropped them) -> handshake
  again and send what it lists (at most ``max_chunk_resends`` such rounds per upload). 404 UNKNOWN_UPLOAD (the
  server lost the upload, e.g. restarted without its data) -> handshake again (at most ``max_rehandshakes``
  times in a row without progress). Other 4xx -> FAILED with the server's message.
- **The file changed** since it was hashed: FAILED with FILE_CHANGED. Chunks are not read or hashed again
  before they are sent (a browser ``File`` is a snapshot: Chromium fails any read of a file modified after it
  was chosen, the fetch of a slice of it included, and the server checks the whole file's MD5). So a chunk is
  checked only when its request fails with a network error (the fetch may have failed because the file could
  not be read), with 422 CHUNK_MISMATCH and when a 422 CHUNKS_DAMAGED names it: the engine reads the chunk and
  hashes it: a read that fails is READ_FAILED (or what the source raised, e.g. FILE_CHANGED), other bytes than
  when hashed are FILE_CHANGED; otherwise the server's answer stands. ``verify_chunks`` restores the check
  before each send, for sources that are not snapshots.
- **Memory.** Hashing streams; chunks go out as ranges of the file (``FileRange``), read by the transport
  as it sends: at most ``parallel`` chunks in memory.
- **Cancellation.** ``cancel()`` aborts the current run, in-flight requests included (the transport sees
  ``CancelledError``); the upload ends PAUSED (or CHOSEN if it was hashing) and can be resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from . import protocol
from .chunking import CHUNK_SIZE, Chunk, ChunkPlan
from .errors import EngineError, Err, IllegalTransition, ServerError, TransportError
from .hashing import hash_file, md5_hex, upload_name
from .ports import Clock, FileRange, FileSource, Listener, Transport, UploadSnapshot
from .progress import RateMeter, byte_percent, chunk_percent, eta
from .retry import Action, RetryPolicy, classify
from .state import ACTIVE, StateMachine, UploadState

log = logging.getLogger(__name__)
S = UploadState
T = TypeVar("T")


@dataclass(frozen=True)
class UploadConfig:
    chunk_size: int = CHUNK_SIZE  # the seed's 1 MiB; the server must see the same chunk list to resume
    parallel: int = 3  # chunk requests in flight at once
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_chunk_resends: int = 3  # per chunk after 422 CHUNK_MISMATCH; rounds of 422 CHUNKS_DAMAGED per upload
    max_rehandshakes: int = 3  # in a row without progress, after 404 UNKNOWN_UPLOAD / an empty needed set
    request_timeout: float | None = 120.0  # passed to the transport in each HttpRequest
    verify_chunks: bool = False  # read and re-hash each chunk before sending it (sources that are not
    # snapshots); by default the transport slices the file itself and a chunk is checked only when it fails
    speed_window: float = 5.0  # seconds of history for the speed
    hash_block_size: int | None = None  # bytes per read while hashing; None = chunk_size
    send_name: bool = True  # send the file's name in the handshake (for downloads' Content-Disposition)

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ValueError(f"parallel must be at least 1, got {self.parallel}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {self.chunk_size}")


@dataclass
class _SendRun:
    """What the senders of one ``_send_chunks`` learned; any of it stops new chunks."""

    done: bool = False  # an answer said []
    rehandshake: bool = False  # 404 UNKNOWN_UPLOAD, or 422 CHUNKS_DAMAGED
    fatal: EngineError | None = None
    retryable: EngineError | None = None

    @property
    def stopped(self) -> bool:
        return self.done or self.rehandshake or self.fatal is not None or self.retryable is not None


class _Outcome(Enum):
    DONE = "done"  # an answer said [] : the server assembled the file
    PAUSED = "paused"
    REHANDSHAKE = "rehandshake"  # 404 UNKNOWN_UPLOAD, 422 CHUNKS_DAMAGED, or nothing left without a final []


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
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.config = config or UploadConfig()
        self.clock = clock or Clock()
        self._listeners: list[Listener] = [listener] if listener is not None else []
        self._sm = StateMachine()
        self._plan = plan
        self._needed: dict[str, None] | None = None  # ordered set of chunk ids the server still needs
        self._in_flight: set[str] = set()
        self._resends: dict[str, int] = {}  # chunk id -> 422 CHUNK_MISMATCH answers since it was last stored
        self._damaged_rounds = 0  # 422 CHUNKS_DAMAGED answers so far
        self._task: asyncio.Task[None] | None = None
        self._previous: asyncio.Task[None] | None = None  # the run before _task (may still be winding down)
        self._start_pending = False  # a run was asked for and has not begun yet
        self._pause_requested = False
        self._prepare_only = False
        self._wake = asyncio.Event()
        self._attempt = 0
        self._retry_in: float | None = None
        self._error: EngineError | None = None
        self._url: str | None = None
        self._hashed = 0
        self._sent = 0  # bytes this controller sent and the server confirmed (for the speed)
        self._meter = RateMeter(self.config.speed_window)
        self._needed_bytes = 0  # bytes of the chunks in _needed
        self.snapshot = self._make_snapshot()
        self._go(S.CHOSEN)  # a controller exists for a chosen file
        self._emit()

    # ------------------------------------------------------------------ what the UI reads and calls

    @property
    def state(self) -> UploadState:
        return self._sm.state

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
        if self.state is not S.CHOSEN:
            raise IllegalTransition(self.state, S.HASHING)
        if self._task is None or self._task.done():
            self._launch(prepare_only=True)
        return await self.wait()

    def start(self) -> asyncio.Task[None]:
        """Start or continue uploading in a background task (from CHOSEN, PAUSED, or FAILED = retry).

        Calling it while a run is going is harmless (returns that run); calling it during ``prepare()``
        makes that run go on uploading."""
        state = self.state
        if (state in ACTIVE or self._start_pending) and self._task is not None and not self._task.done():
            self._prepare_only = False
            return self._task
        if state not in (S.CHOSEN, S.PAUSED, S.FAILED):
            raise IllegalTransition(state, S.UPLOADING)
        return self._launch(prepare_only=False)

    resume = start  # "continue" in the seed's words

    def pause(self) -> None:
        """Stop starting chunks; in-flight ones finish. The state is PAUSED at once. No-op when PAUSED."""
        if self.state is S.PAUSED:
            self._start_pending = False  # a resume() that has not begun yet is called off
            return
        self._go(S.PAUSED)  # raises IllegalTransition outside UPLOADING / RETRYING
        self._pause_requested = True
        self._retry_in = None
        self._wake.set()
        self._emit()

    def retry_now(self) -> None:
        """Skip the rest of the backoff wait (e.g. when the browser comes back online)."""
        if self.state is S.RETRYING:
            self._wake.set()

    async def cancel(self) -> UploadSnapshot:
        """Abort the current run at once, in-flight requests included. Ends PAUSED (CHOSEN if hashing)."""
        self._start_pending = False
        tasks = {t for t in (self._task, self._previous) if t is not None and not t.done()}
        for task in tasks:  # the run, and the paused run a resume() may still be waiting for
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
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
        previous = self._previous = self._task
        origin = self.state
        self._start_pending = True
        self._prepare_only = prepare_only
        self._task = asyncio.create_task(self._run(previous, origin))
        return self._task

    async def _run(self, previous: asyncio.Task[None] | None, origin: UploadState) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})  # the paused run lets its in-flight chunks finish first
        if not self._start_pending or self.state is not origin:
            return  # called off by pause(), or the previous run finished/failed the upload meanwhile
        self._start_pending = False
        self._pause_requested = False
        self._error = None
        self._attempt = 0  # a new run (the user retried) gets the whole retry budget again
        try:
            await self._stages()
        except asyncio.CancelledError:
            self._settle_cancelled()
            raise
        except EngineError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug here or in a port: fail visibly, never hang
            log.exception("upload of %r failed unexpectedly", self.source.name)
            self._fail(_internal(exc))

    async def _stages(self) -> None:
        if self._plan is None or (self.state is S.CHOSEN and self._needed is None):
            # Stage 1: HASHING = compute the ids, then the first handshake.
            self._go(S.HASHING)
            self._emit()
            if self._plan is None:
                await self._hash()
            result = await self._with_retries(S.HASHING, self._handshake)
            if result is _Outcome.PAUSED:
                return
            if isinstance(result, str) or not result:  # the seed: `needs = []` -> finished, link to the file
                self._finish(result or self._default_url())
                return
            self._set_needed(result)
            if self._prepare_only:
                self._go(S.CHOSEN)
                self._emit()
                return
            handshake_first = False
        else:
            # Prepared (CHOSEN): the handshake's answer is at hand, as the seed's start button uses it; a
            # stale answer corrects itself (404 -> handshake). Continuing (PAUSED/FAILED): ask the server now.
            handshake_first = self.state is not S.CHOSEN
        self._go(S.UPLOADING)
        self._meter.reset(self.clock.now(), self._sent)
        self._emit()

        async def session() -> _Outcome:
            nonlocal handshake_first
            try:
                return await self._session(handshake_first)
            finally:
                handshake_first = True

        outcome = await self._with_retries(S.UPLOADING, session)
        if outcome is _Outcome.DONE:
            self._finish(self._default_url())

    def _default_url(self) -> str:
        """The link when no answer gave one: the seed's `${base}/upload/${fileId}${ext}`, with the name the
        handshake sent (``?name=``), as the server answers it."""
        plan = self._plan_or_fail()
        return protocol.file_url(self.base_url, plan.file_id, plan.ext, self._name())

    def _name(self) -> str | None:
        """The ``name`` the handshake sends (and the link carries), if any."""
        return upload_name(self.source.name) if self.config.send_name else None

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

    async def _with_retries(self, phase: UploadState, step: Callable[[], Awaitable[T]]) -> T | _Outcome:
        """Run ``step``; on a retryable error wait a backoff (RETRYING) and run it again, until it succeeds,
        fails for good, or the user pauses."""
        while True:
            try:
                return await step()
            except EngineError as exc:
                if classify(exc) is not Action.RETRY:
                    raise
                if self._pause_requested:
                    return _Outcome.PAUSED
                self._attempt += 1
                if self.config.retry.gives_up(self._attempt):
                    raise EngineError(
                        Err.RETRIES_EXHAUSTED,
                        f"gave up after {self._attempt} tries; last error: {exc.msg}",
                    ) from exc
                self._error = exc
                self._go(S.RETRYING)
                await self._backoff(self.config.retry.delay(self._attempt, self.clock.random))
                if self._pause_requested:
                    return _Outcome.PAUSED
                self._go(phase)
                self._emit()

    async def _backoff(self, delay: float) -> None:
        self._retry_in = delay
        self._wake.clear()
        self._emit()
        if self._pause_requested:
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            self._retry_in = None

    async def _handshake(self) -> str | list[str]:
        plan = self._plan_or_fail()
        req = protocol.handshake_request(
            self.base_url, plan, name=self._name(), timeout=self.config.request_timeout
        )
        while True:
            try:
                resp = await self.transport.request(req)
                return protocol.handshake_result(protocol.envelope_data(resp), plan)
            except ServerError as exc:
                # A handshake assembles a file whose chunks are all stored: it may find damaged ones too.
                if classify(exc) is not Action.RESEND_DAMAGED:
                    raise
                await self._check_damaged(plan, exc)
                limit = self._damaged_round(exc)
                if limit is not None:
                    raise limit from exc

    async def _check_damaged(self, plan: ChunkPlan, exc: ServerError) -> None:
        """Read again the chunks the server found damaged (its answer's ``data``): FILE_CHANGED if the file
        changed since it was hashed (a source that is not a snapshot), else they were damaged on the way."""
        damaged = exc.data if isinstance(exc.data, list) else []
        for cid in damaged:
            chunk = plan.by_id(cid) if isinstance(cid, str) else None
            if chunk is not None:
                await self._verified(chunk)

    def _damaged_round(self, exc: ServerError) -> EngineError | None:
        """Count a 422 CHUNKS_DAMAGED; the error to fail with once there were too many."""
        self._damaged_rounds += 1
        if self._damaged_rounds <= self.config.max_chunk_resends:
            return None
        return EngineError(
            Err.CHUNK_RESEND_LIMIT,
            f"the server found damaged chunks {self._damaged_rounds} times; "
            f"last answer: {exc.code}: {exc.msg}",
        )

    async def _session(self, handshake_first: bool) -> _Outcome:
        """Handshake (unless the needed set is fresh), then send chunks; handshake again when the server
        forgot the upload. Returns DONE or PAUSED; raises the errors ``_with_retries`` deals with."""
        rehandshakes = 0
        need_handshake = handshake_first
        while True:
            if need_handshake:
                result = await self._handshake()
                if isinstance(result, str) or not result:
                    self._url = result or None
                    return _Outcome.DONE
                self._set_needed(result)
                self._emit()
            sent_before = self._sent
            outcome = await self._send_chunks()
            if outcome is not _Outcome.REHANDSHAKE:
                return outcome
            rehandshakes = 0 if self._sent > sent_before else rehandshakes + 1
            if rehandshakes > self.config.max_rehandshakes:
                raise EngineError(
                    Err.UPLOAD_LOST_LIMIT,
                    f"the server lost this upload {rehandshakes} times in a row without progress",
                )
            need_handshake = True

    async def _send_chunks(self) -> _Outcome:
        """``parallel`` senders, each sending one needed chunk after another until none is left or the run
        must stop. One long-lived task per sender, not one per chunk: under Pyodide every task switch is a
        trip through the browser's event loop, and per chunk a sender needs only its request's."""
        plan = self._plan_or_fail()
        run = _SendRun()
        senders = [asyncio.ensure_future(self._sender(plan, run)) for _ in range(self.config.parallel)]
        try:
            await asyncio.gather(*senders)
        finally:
            for sender in senders:  # only when cancelled (or a bug): abort what is still in flight
                sender.cancel()
            self._in_flight.clear()
        if run.done:
            return _Outcome.DONE
        if run.fatal is not None:
            raise run.fatal
        if self._pause_requested:
            return _Outcome.PAUSED
        if run.rehandshake:
            return _Outcome.REHANDSHAKE
        if run.retryable is not None:
            raise run.retryable
        return _Outcome.REHANDSHAKE  # nothing left to send, but no answer said []: ask the server

    async def _sender(self, plan: ChunkPlan, run: _SendRun) -> None:
        """Send needed chunks one at a time; stop starting new ones on pause, [] or an error."""
        while not (self._pause_requested or run.stopped):
            cid = self._next_chunk()
            if cid is None:
                return  # the rest is in flight with other senders (a chunk sent again goes with its sender)
            chunk = plan.by_id(cid)
            assert chunk is not None
            self._in_flight.add(cid)
            self._emit()
            try:
                answer = await self._send_one(plan, chunk)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified (retry.classify)
                self._in_flight.discard(cid)
                self._failed(cid, exc, run)
            else:
                self._in_flight.discard(cid)
                self._confirmed(plan, cid, answer)
                if not answer:
                    run.done = True
            self._emit()

    def _failed(self, cid: str, exc: Exception, run: _SendRun) -> None:
        """What one chunk's failure means for the run."""
        action = classify(exc) if isinstance(exc, EngineError) else Action.FAIL
        if action is Action.RESEND_CHUNK:  # it stays needed: the sender takes it again next (file order)
            assert isinstance(exc, ServerError)
            self._resends[cid] = self._resends.get(cid, 0) + 1
            if self._resends[cid] > self.config.max_chunk_resends:
                run.fatal = run.fatal or EngineError(
                    Err.CHUNK_RESEND_LIMIT,
                    f"chunk {cid[32:]} arrived damaged {self._resends[cid]} times; "
                    f"last answer: {exc.code}: {exc.msg}",
                )
        elif action is Action.RESEND_DAMAGED:
            assert isinstance(exc, ServerError)
            limit = self._damaged_round(exc)
            if limit is not None:
                run.fatal = run.fatal or limit
            run.rehandshake = True
        elif action is Action.REHANDSHAKE:
            run.rehandshake = True
        elif action is Action.RETRY:
            assert isinstance(exc, EngineError)
            run.retryable = run.retryable or exc
        elif run.fatal is None:
            run.fatal = exc if isinstance(exc, EngineError) else _internal(exc)

    def _next_chunk(self) -> str | None:
        # in_flight is a subset of needed with at most `parallel` members: this stops within parallel+1 steps
        assert self._needed is not None
        return next((cid for cid in self._needed if cid not in self._in_flight), None)

    async def _send_one(self, plan: ChunkPlan, chunk: Chunk) -> list[str]:
        data: bytes | FileRange
        if self.config.verify_chunks:
            data = await self._verified(chunk)
        else:
            data = FileRange(self.source, chunk.start, chunk.end)
        req = protocol.chunk_request(
            self.base_url, plan.file_id, chunk.id, data, timeout=self.config.request_timeout
        )
        try:
            resp = await self.transport.request(req)
            return protocol.needed_ids(protocol.envelope_data(resp), plan)
        except TransportError:
            await self._verified(chunk)  # the file may be why the request failed: READ_FAILED, FILE_CHANGED
            raise
        except ServerError as exc:
            action = classify(exc)  # changed, or damaged on the way: tell which
            if action is Action.RESEND_CHUNK:
                await self._verified(chunk)
            elif action is Action.RESEND_DAMAGED:
                await self._check_damaged(plan, exc)
            raise

    async def _verified(self, chunk: Chunk) -> bytes:
        """The chunk's bytes, read again and checked against its id."""
        try:
            data = await self.source.read(chunk.start, chunk.end)
        except EngineError:
            raise  # the source knows better (e.g. FILE_CHANGED for a File modified after it was chosen)
        except Exception as exc:
            raise EngineError(Err.READ_FAILED, f"chunk {chunk.index} could not be read: {exc}") from exc
        if len(data) != chunk.size or md5_hex(data) != chunk.id[:32]:
            raise EngineError(
                Err.FILE_CHANGED, f"chunk {chunk.index} is not what it was when hashed; the file changed"
            )
        return data

    # ------------------------------------------------------------------ bookkeeping

    def _set_needed(self, ids: list[str]) -> None:
        """The server's list, in file order (it answers in file order; the seed sends needs[0] first)."""
        wanted = set(ids)
        chunks = [c for c in self._plan_or_fail().chunks if c.id in wanted]
        self._needed = {c.id: None for c in chunks}
        self._needed_bytes = sum(c.size for c in chunks)

    def _confirmed(self, plan: ChunkPlan, cid: str, answer: list[str]) -> None:
        """A 200 for chunk ``cid``: it is stored; the answer can only shrink what is needed."""
        assert self._needed is not None
        still = set(answer)
        still.discard(cid)
        gone = [x for x in self._needed if x not in still]
        for x in gone:
            del self._needed[x]
        self._needed_bytes -= sum(c.size for c in (plan.by_id(x) for x in gone) if c is not None)
        chunk = plan.by_id(cid)
        self._sent += chunk.size if chunk is not None else 0
        self._attempt = 0  # progress: the backoff starts over
        self._resends.pop(cid, None)
        self._meter.add(self.clock.now(), self._sent)

    def _finish(self, url: str | None) -> None:
        self._url = self._url or url
        self._needed = {}
        self._needed_bytes = 0
        self._attempt = 0
        self._error = None
        self._go(S.FINISHED)
        self._emit()

    def _fail(self, exc: EngineError) -> None:
        self._error = exc
        self._retry_in = None
        self._go(S.FAILED)
        self._emit()

    def _settle_cancelled(self) -> None:
        self._retry_in = None
        if self.state in (S.UPLOADING, S.RETRYING):
            self._go(S.PAUSED)
        elif self.state is S.HASHING:
            self._go(S.CHOSEN)
        self._emit()

    def _plan_or_fail(self) -> ChunkPlan:
        if self._plan is None:
            raise EngineError(Err.INTERNAL, "no chunk plan yet")
        return self._plan

    def _go(self, target: UploadState) -> None:
        self._sm.go(target)
        if target is not S.RETRYING:
            self._retry_in = None

    # ------------------------------------------------------------------ snapshots

    def _make_snapshot(self) -> UploadSnapshot:
        plan = self._plan
        state = self._sm.state
        size = self.source.size
        chunks_total = len(plan.chunks) if plan else 0
        if state is S.FINISHED:
            chunks_done, bytes_done = chunks_total, size
        elif plan is not None and self._needed is not None:
            chunks_done = chunks_total - len(self._needed)
            bytes_done = size - self._needed_bytes
        else:
            chunks_done = bytes_done = 0
        now = self.clock.now()
        speed = self._meter.rate(now) if state in (S.HASHING, S.UPLOADING) else None
        remaining = (size - self._hashed) if state is S.HASHING else (size - bytes_done)
        error = self._error
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
            in_flight=len(self._in_flight),
            file_id=plan.file_id if plan else None,
            url=self._url if state is S.FINISHED else None,
            error=error.msg if error is not None and state in (S.FAILED, S.RETRYING) else None,
            error_code=error.code if error is not None and state in (S.FAILED, S.RETRYING) else None,
            retry_in=self._retry_in if state is S.RETRYING else None,
            attempt=self._attempt,
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


def _internal(exc: BaseException) -> EngineError:
    return EngineError(Err.INTERNAL, f"{type(exc).__name__}: {exc}")
