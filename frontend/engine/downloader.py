"""The download controller: one file from the server into a partial file, verified, then handed over.

Flow (the upload's shape, the other way)::

    check: probe the file (size, ETag, name, Repr-Digest) -> compare with the journal on disk
      -> the same version: keep its segments; another one (or none): discard it, check the space, start anew
    -> rounds of segment requests (``download_rounds.py``: ``parallel`` lanes, each fetching one missing
       segment after another with Range + If-Range, written as it arrives; the journal committed after each)
    -> verify: the whole file's SHA-256 against Repr-Digest and, for an uploaded file, its MD5 against the
       link's fileId (both hashed as the file's done prefix grows: ``download_verify.py``)
    -> hand it over (``PartialFile.deliver``) -> FINISHED.

The controller holds the state (``download_state.py``) and the one task that does the work, its run.

- **Pause / continue** as uploads: no new segment; those in flight finish and count; PAUSED once they are
  in. Continuing from PAUSED starts a new run, which checks the file again (a cheap probe) and goes on from
  the journal.
- **Failures** (``retry.classify``): no answer, a body cut short, 5xx, 408, 429 -> wait a full-jitter
  backoff (RETRYING; a pause or ``retry_now()`` cuts it short) and go on; the count of tries starts over
  whenever a segment lands. Another 4xx, no space left in the browser's storage -> FAILED with the message.
- **The file changed on the server** (an answer to If-Range is a 200, the size or ETag differ), or the
  finished file does not match the server's digest: discard the partial file and start over, at most
  ``max_restarts`` times in a row (then FAILED: ``FILE_KEEPS_CHANGING`` / ``DOWNLOAD_MISMATCH``). Never a
  splice of two versions: every segment of a journal is of the ETag it names.
- **A damaged segment** (its bytes do not match the part's ``Content-Digest``) is fetched again at once, at
  most ``max_refetches`` times (then ``SEGMENT_DAMAGED``).
- **The server's digests are optional**: without ``Content-Digest`` segments are not checked one by one;
  without ``Repr-Digest`` (not computed yet: the server adds it once ready) the file is checked against the
  MD5 its link names, if any; without both it is as sure as its ETag (``DownloadSnapshot.verified`` says).
- **Memory**: a lane holds one piece of its segment at a time (written at once), the digests one block, and
  a segment's ``Content-Digest`` check reads that segment back (in the browser, into JavaScript's memory
  for its native SHA-256): a download of any size holds at most ``parallel`` segments, never the file.
- **Cancellation**: ``cancel()`` aborts the run, requests included (PAUSED); ``discard()`` also removes the
  partial file (DISCARDED).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from . import download_http as wire_http
from .download_http import Representation
from .download_journal import Journal
from .download_plan import MissingSegments, Segment, SegmentPlan
from .download_ports import DownloadListener, DownloadSnapshot, PartialFile, StorageSpace, StreamTransport
from .download_rounds import RoundEnd, SegmentFetcher, SegmentRound
from .download_state import (
    ACTIVE,
    DRAINING,
    PAUSABLE,
    RESTING,
    DownloadControl,
    DownloadMachine,
    DownloadState,
)
from .download_verify import FileDigest
from .errors import EngineError, Err, IllegalTransition, internal
from .ports import Clock
from .progress import RateMeter, byte_percent, eta
from .retry import RetryPolicy
from .retry_loop import PAUSED, Paused, RetryLoop

log = logging.getLogger(__name__)
D = DownloadControl
S = DownloadState
T = TypeVar("T")
MiB = 1024 * 1024


@dataclass(frozen=True)
class DownloadConfig:
    segment_size: int = 8 * MiB  # bytes per range request (measured: docs in the report / frontend/README)
    parallel: int = 3  # range requests in flight at once
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_refetches: int = 3  # per segment, after its bytes did not match their Content-Digest
    max_restarts: int = 3  # starts over in a row (the file changed, or did not match its digest)
    want_digest: bool = True  # ask for each segment's Content-Digest (RFC 9530 Want-Content-Digest)
    final_probe: bool = True  # ask for Repr-Digest once more before verifying when it was not given yet
    request_timeout: float | None = 60.0  # seconds until an answer's head arrives
    stall_timeout: float | None = 60.0  # seconds without a byte of a body before it is given up
    space_margin: int = 0  # bytes to leave free in the browser's storage
    speed_window: float = 5.0  # seconds of history for the speed

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ValueError(f"parallel must be at least 1, got {self.parallel}")
        if self.segment_size < 1:
            raise ValueError(f"segment_size must be positive, got {self.segment_size}")


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB"


class DownloadController:
    """Downloads one file. Create it with the file's URL and its ``PartialFile``; drive it like an upload."""

    def __init__(
        self,
        url: str,
        transport: StreamTransport,
        file: PartialFile,
        *,
        name: str | None = None,
        size: int | None = None,
        space: StorageSpace | None = None,
        config: DownloadConfig | None = None,
        clock: Clock | None = None,
        wall_ms: Callable[[], float] = lambda: time.time() * 1000,
        listener: DownloadListener | None = None,
    ) -> None:
        """``url``: absolute. ``name``/``size``: what the page knows before asking (the list of files), shown
        until the server has answered; the server's ``Content-Disposition`` names the file if it gives one."""
        self.url = url
        self.transport = transport
        self.file = file
        self.space = space
        self.config = config or DownloadConfig()
        self.clock = clock or Clock()
        self._wall_ms = wall_ms
        self._listeners: list[DownloadListener] = [listener] if listener is not None else []
        self._sm = DownloadMachine()
        self._name = name or wire_http.name_from_url(url)
        self._size_hint = size
        self._expected_md5 = wire_http.expected_md5(url)
        self._rep: Representation | None = None
        self._plan: SegmentPlan | None = None
        self._missing: MissingSegments | None = None
        self._journal: Journal | None = None
        self._digest: FileDigest | None = None
        self._round: SegmentRound | None = None
        self._refetches: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._retry = RetryLoop(self.config.retry, self.clock)
        self._restarts = 0  # shown: every start-over of this download
        self._restarts_in_a_row = 0  # bounded: reset when a run begins or the file is delivered
        self._refetched = 0
        self._verified: tuple[str, ...] = ()
        self._meter = RateMeter(self.config.speed_window)
        self.snapshot = self._make_snapshot()
        self._emit()

    # ------------------------------------------------------------------ what the UI reads and calls

    @property
    def state(self) -> DownloadState:
        return self._sm.state.shown

    @property
    def name(self) -> str:
        return self._name

    def subscribe(self, listener: DownloadListener) -> Callable[[], None]:
        self._listeners.append(listener)
        self._call(listener, self.snapshot)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def start(self) -> asyncio.Task[None]:
        """Start, continue (PAUSED) or retry (FAILED) in a background task; while pausing, go on after the
        requests in flight; while running, return the run."""
        state = self._sm.state
        if state is D.PAUSING:
            self._go(D.RESUMING)
            self._emit()
        elif state in (D.NEW, D.PAUSED, D.FAILED):
            self._retry.fresh()
            self._restarts_in_a_row = 0
            self._go(D.CHECKING)
            self._emit()
            self._task = asyncio.create_task(self._run())
        elif state not in ACTIVE:
            raise IllegalTransition(self.state, S.CHECKING)
        assert self._task is not None
        return self._task

    resume = start

    def pause(self) -> None:
        """No new segment; those in flight finish. Shown PAUSED at once. No-op when paused or verifying."""
        state = self._sm.state
        if state in DRAINING or state is D.PAUSED or state is D.VERIFYING:
            if state is D.RESUMING:
                self._go(D.PAUSING)  # the continue is called off
                self._emit()
            return
        if state not in PAUSABLE:
            raise IllegalTransition(self.state, S.PAUSED)
        self._go(D.PAUSING)
        self._retry.wake()
        self._emit()

    def retry_now(self) -> None:
        """Skip the rest of the backoff wait (e.g. when the browser comes back online)."""
        if self._sm.state is D.RETRYING:
            self._retry.wake()

    async def cancel(self) -> DownloadSnapshot:
        """Abort the run at once, requests in flight included. Ends PAUSED (a download never started: NEW)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        self._settle_cancelled()
        return self.snapshot

    async def discard(self) -> DownloadSnapshot:
        """Abort and remove the partial file (its space is freed): DISCARDED."""
        await self.cancel()
        await self.file.discard()
        if self._sm.state is not D.DISCARDED:
            self._go(D.DISCARDED)
            self._emit()
        return self.snapshot

    async def wait(self) -> DownloadSnapshot:
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})
        return self.snapshot

    async def download(self) -> DownloadSnapshot:
        """Start and wait (scripts, tests). Ends FINISHED, FAILED or PAUSED."""
        self.start()
        return await self.wait()

    # ------------------------------------------------------------------ the run

    async def _run(self) -> None:
        try:
            await self._stages()
        except asyncio.CancelledError:
            self._settle_cancelled()
            raise
        except EngineError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug here or in a port: fail visibly, never hang
            log.exception("download of %r failed unexpectedly", self.url)
            self._fail(internal(exc))

    async def _stages(self) -> None:
        while True:
            # CHECKING: what is the file now, what is on disk of it.
            rep = await self._with_retries(D.CHECKING, self._probe)
            if rep is PAUSED:
                if not self._drained(D.CHECKING):
                    return
                continue
            await self._prepare(rep)
            # DOWNLOADING: rounds until no segment is missing.
            changed = False
            missing = self._missing
            assert missing is not None
            if self._stopping:  # paused while checking: its request was let finish
                if not self._drained(D.DOWNLOADING if missing else D.VERIFYING):
                    return
            elif missing:
                self._begin(D.DOWNLOADING)
            while missing:
                end = await self._with_retries(D.DOWNLOADING, self._segments)
                if end is RoundEnd.CHANGED:
                    changed = True
                    break
                if (end is PAUSED or end is RoundEnd.STOPPED) and not self._drained(D.DOWNLOADING):
                    return
            if not changed:
                # VERIFYING: the whole file against the server's digests, then hand it over.
                if self._sm.state is not D.VERIFYING:
                    self._go(D.VERIFYING)
                    self._emit()
                if await self._verify_and_deliver():
                    return
            await self._start_over(changed)
            if self._stopping and not self._drained(D.CHECKING):
                return
            if self._sm.state is not D.CHECKING:
                self._go(D.CHECKING)
                self._emit()

    def _drained(self, phase: DownloadControl) -> bool:
        """A paused run's requests are in: PAUSED, the run ends (False); or, continued meanwhile, go on in
        ``phase`` with the whole retry budget (True)."""
        if self._sm.state is D.RESUMING:
            self._retry.fresh()
            self._begin(phase)
            return True
        self._go(D.PAUSED)
        self._emit()
        return False

    def _begin(self, phase: DownloadControl) -> None:
        self._go(phase)
        self._meter.reset(self.clock.now(), self._bytes_done())  # paused time does not count in the speed
        self._emit()

    @property
    def _stopping(self) -> bool:
        return self._sm.state in DRAINING

    async def _with_retries(self, phase: DownloadControl, step: Callable[[], Awaitable[T]]) -> T | Paused:
        """Run ``step`` in the retry loop (``retry_loop.py``), going back to ``phase`` after each wait."""

        def retrying() -> None:
            self._go(D.RETRYING)
            self._emit()

        return await self._retry.run(
            step, stopping=lambda: self._stopping, on_retrying=retrying, on_resumed=lambda: self._begin(phase)
        )

    async def _probe(self) -> Representation:
        """What the server says about the file now (one byte of it: ``download_http``)."""
        resp = await self.transport.open(wire_http.probe_request(self.url, self.config.request_timeout))
        try:
            rep = wire_http.representation(resp.status, resp.headers)
            if rep is None:
                raise wire_http.server_error(resp.status, await resp.text())
            return rep
        finally:
            await resp.aclose()

    async def _prepare(self, rep: Representation) -> None:
        """Keep what is on disk of this version of the file, or start anew (checking the space first)."""
        self._rep = rep
        self._name = rep.name or self._name
        journal = await self.file.journal()
        resumed = (
            journal is not None
            and rep.etag != ""
            and rep.ranged
            and journal.same_version(self.url, rep.size, rep.etag)
        )
        # A resumed download goes on cut as it was (its journal's indices name its segments), whatever the
        # page's segment size is now (``?dsegment=`` may differ from the page that started it).
        segment_size = journal.segment_size if journal is not None and resumed else self.config.segment_size
        plan = SegmentPlan(rep.size, segment_size, ranged=rep.ranged)
        if journal is not None and resumed:
            if rep.sha256 is None and journal.repr_digest:  # the server said it before
                self._rep = rep = replace(rep, sha256=bytes.fromhex(journal.repr_digest))
            journal = replace(journal, name=self._name)
        else:
            if journal is not None:
                await self.file.discard()  # another version: its bytes are of no use
            await self._check_space(rep.size)
            journal = Journal(self.url, self._name, rep.size, rep.etag, self.config.segment_size)
            journal = journal.with_done((), self._wall_ms())
            await self.file.reset(journal)
        if rep.sha256 is not None:
            journal = replace(journal, repr_digest=rep.sha256.hex())
        self._journal = journal
        self._plan = plan
        self._missing = MissingSegments(plan, journal.done)
        self._refetches = {}
        if self._digest is None or not resumed:  # a digest of these very bytes goes on where it was
            self._digest = FileDigest(md5=self._expected_md5 is not None)
        self._emit()

    async def _check_space(self, size: int) -> None:
        if self.space is None:
            return
        free = await self.space.available()
        if free is not None and free < size + self.config.space_margin:
            raise EngineError(
                Err.NO_SPACE,
                f"{self._name} needs {_size(size)}; the browser lets this page store {_size(max(0, free))} "
                "more: free some space (other downloads, site data) and try again",
            )

    async def _segments(self) -> RoundEnd:
        plan, missing, rep = self._plan, self._missing, self._rep
        assert plan is not None and missing is not None and rep is not None
        fetcher = SegmentFetcher(
            self.transport,
            self.file,
            self.url,
            plan,
            rep.etag,
            want_digest=self.config.want_digest,
            timeout=self.config.request_timeout,
            stall_timeout=self.config.stall_timeout,
            seen_repr_digest=self._seen_repr_digest,
        )
        self._round = SegmentRound(
            fetcher,
            missing,
            parallel=self.config.parallel,
            max_refetches=self.config.max_refetches,
            refetches=self._refetches,
            stopping=lambda: self._stopping,
            on_change=self._progressed,
            land=self._land,
        )
        try:
            return await self._round.run()
        finally:
            self._refetched += self._round.damaged
            self._round = None

    def _seen_repr_digest(self, sha256: bytes) -> None:
        if self._rep is not None and self._rep.sha256 is None:
            self._rep = replace(self._rep, sha256=sha256)

    def _progressed(self) -> None:
        self._meter.add(self.clock.now(), self._bytes_done())
        self._emit()

    async def _land(self, segment: Segment) -> None:
        """A segment's bytes are all written and checked: commit the journal (the bytes are flushed first),
        and hash what is now done from the start of the file."""
        missing, journal, plan, digest = self._missing, self._journal, self._plan, self._digest
        assert missing is not None and journal is not None and plan is not None and digest is not None
        self._retry.attempt = 0
        journal = journal.with_done(missing.done, self._wall_ms())
        if self._rep is not None and self._rep.sha256 is not None:
            journal = replace(journal, repr_digest=self._rep.sha256.hex())
        await self.file.commit(journal)
        self._journal = journal
        await digest.advance(self.file, plan.done_prefix(missing.done))

    async def _verify_and_deliver(self) -> bool:
        """Check the whole file against what the server promised; True once handed over (FINISHED), False
        when it must start over (the file changed meanwhile, or did not match)."""
        rep, plan, digest, journal = self._rep, self._plan, self._digest, self._journal
        assert rep is not None and plan is not None and digest is not None and journal is not None
        await digest.advance(self.file, plan.size, lambda _: self._emit())
        if rep.sha256 is None and self.config.final_probe:
            try:  # the server computes Repr-Digest in the background: it may be there by now
                latest = await self._probe()
            except EngineError:
                latest = None  # not worth a wait: the other checks stand
            if latest is not None:
                if (latest.size, latest.etag) != (rep.size, rep.etag):
                    self._retry.error = None
                    return False  # a new version: start over
                rep = self._rep = replace(rep, sha256=latest.sha256)
        verified: list[str] = []
        problems: list[str] = []
        if rep.sha256 is not None:
            got = digest.sha256()
            (verified if got == rep.sha256 else problems).append(wire_http.SHA256)
        md5 = digest.md5_hex()
        if self._expected_md5 is not None:
            (verified if md5 == self._expected_md5 else problems).append("md5")
        if problems:
            self._retry.error = EngineError(
                Err.DOWNLOAD_MISMATCH, f"the downloaded file does not match its {' and '.join(problems)}"
            )
            return False
        finished = replace(journal, finished=True, updated=self._wall_ms())
        await self.file.commit(finished)
        self._journal = finished
        await self.file.deliver(self._name)
        self._verified = tuple(verified)
        self._restarts_in_a_row = 0
        self._retry.fresh()
        self._go(D.FINISHED)
        self._emit()
        return True

    async def _start_over(self, changed: bool) -> None:
        """The bytes on disk are of no use (another version, or they did not match): remove them; bounded."""
        mismatch = self._retry.error
        self._restarts += 1
        self._restarts_in_a_row += 1
        await self.file.discard()
        self._missing = None
        self._journal = None
        self._digest = None
        self._emit()
        if self._restarts_in_a_row > self.config.max_restarts:
            if not changed and mismatch is not None:
                raise mismatch
            raise EngineError(
                Err.FILE_KEEPS_CHANGING,
                f"the file changed on the server {self._restarts_in_a_row} times while it was downloaded",
            )
        self._retry.error = None

    # ------------------------------------------------------------------ bookkeeping

    def _bytes_done(self) -> int:
        missing, plan = self._missing, self._plan
        if missing is None or plan is None:
            return 0
        arrived = sum(self._round.arrived.values()) if self._round is not None else 0
        return plan.size - missing.bytes + arrived

    def _fail(self, exc: EngineError) -> None:
        self._retry.error = exc
        self._go(D.FAILED)
        self._emit()

    def _settle_cancelled(self) -> None:
        if self._sm.state in RESTING:
            return
        self._go(D.PAUSED)
        self._emit()

    def _go(self, target: DownloadControl) -> None:
        self._sm.go(target)
        if target is not D.RETRYING:
            self._retry.retry_in = None

    # ------------------------------------------------------------------ snapshots

    def _make_snapshot(self) -> DownloadSnapshot:
        state = self._sm.state.shown
        plan, missing = self._plan, self._missing
        size = self._rep.size if self._rep is not None else self._size_hint
        finished = state is S.FINISHED
        done = (size or 0) if finished else self._bytes_done()
        active = state is S.DOWNLOADING
        now = self.clock.now()
        speed = self._meter.rate(now) if active else None
        digest = self._digest
        hashed = digest.position if digest is not None else 0
        error = self._retry.error
        shows_error = error is not None and state in (S.FAILED, S.RETRYING)
        return DownloadSnapshot(
            state=state,
            name=self._name,
            url=self.url,
            bytes_total=size,
            bytes_done=done,
            percent=byte_percent(done, size or 0, finished=finished) if size is not None else 0.0,
            segments_total=plan.count if plan is not None else 0,
            segments_done=(plan.count - len(missing)) if plan is not None and missing is not None else 0,
            speed=speed,
            eta=eta((size or 0) - done, speed) if active and size is not None else None,
            in_flight=len(missing.in_flight) if missing is not None else 0,
            verified_percent=100.0 if finished else byte_percent(hashed, size or 0, finished=finished),
            verified=self._verified if finished else (),
            restarts=self._restarts,
            refetched=self._refetched,
            error=error.msg if shows_error and error is not None else None,
            error_code=error.code if shows_error and error is not None else None,
            retry_in=self._retry.retry_in if state is S.RETRYING else None,
            attempt=self._retry.attempt,
        )

    def _emit(self) -> None:
        snap = self._make_snapshot()
        if snap == getattr(self, "snapshot", None):
            return
        self.snapshot = snap
        for listener in list(self._listeners):
            self._call(listener, snap)

    @staticmethod
    def _call(listener: DownloadListener, snap: DownloadSnapshot) -> None:
        try:
            listener(snap)
        except Exception:
            log.exception("a download listener raised")


__all__ = ["DownloadConfig", "DownloadController"]
