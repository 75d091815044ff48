"""The ``Repr-Digest`` (RFC 9530 section 3) of every file served: computed once, off the request path, kept.

The first request for a file without a digest yet asks for one and is answered without it (until the digest is
ready the field is simply absent); one worker thread then hashes the file in the background (sha-256, 1 MiB
reads) from a duplicate of the descriptor that request opened, so exactly the file its validators describe.
The digest is kept:

- in memory, for every later request (a dict look-up and a tuple comparison on the request path);
- in SQLite, ``<data-dir>/digests/repr-digests.sqlite3``, read at start-up, so a restart does not hash again.

Each file, its *subject* (``upload/<fileId>``, ``download/<name>``), keeps one digest, valid for one
*version*: the strong ETag, size and modification time (ns) the request saw. A request that sees another
version (a downloads-folder file changed: a new ETag) gets no digest and asks for the new one, which then
replaces the old. A file whose size or modification time differ before and after it is hashed is not kept;
the next request asks again.

Uploaded files are immutable once published (named by their MD5): each is hashed in the background as soon
as it is published, so even its first download may carry the digest. The upload services know nothing of
this: they call a hook, ``on_published`` (``published_hook``, set up by the application factory), which only
queues the file, never waits for it and never fails the upload; the file is opened when the worker gets to
it, so a queue of them holds no descriptor. A file published but not hashed when the process stops (or beyond
``MAX_QUEUED``) is asked for by its first request instead, like a downloads-folder file. At most
``MAX_PENDING`` files asked for by requests wait at once (each holds a descriptor); a file asked for beyond
that is asked for again by its next request. One file is hashed at a time, whatever asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from server.errors import ApiError
from server.file_response import LocalFile, Source, StreamedFile
from server.offloop_md5 import OffLoopMD5
from server.rfc import digests
from server.storage.contract import LocalFiles, Store, StoredFile

log = logging.getLogger(__name__)

ALGORITHM: Final = digests.SHA_256
MAX_PENDING: Final = 64
MAX_QUEUED: Final = 4096  # published files waiting (a subject and a function each: no descriptor)
READ_SIZE: Final = 1024 * 1024
FILE_NAME: Final = "repr-digests.sqlite3"

Known = tuple[tuple[str, bytes], ...]  # (algorithm key, digest), as ``Representation.digests`` takes them


# What a digest is valid for: the representation's (strong ETag, size, modification time in ns). (A plain
# tuple: it is built for every request, and compared with one.)
Version = tuple[str, int, int]

Opener = Callable[[], Awaitable[tuple[Version, Source] | None]]
"""Opens a file to hash: its version and its source (the caller closes it), or None when it is gone."""


@dataclass
class _Job:
    subject: str
    version: Version | None  # None: told by its opener
    fd: int | None = None  # a duplicate of the request's descriptor of a local file
    read: Callable[[int, int], AsyncIterator[bytes]] | None = None  # else a backend's stream
    opener: Opener | None = None  # a published file: opened when its turn comes (then fd or read is set)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class ReprDigests:
    """The digests known, the files waiting to be hashed, the worker that hashes them and the table."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.computed = 0  # digests this process computed (not the ones it read at start-up)
        self._known: dict[str, tuple[Version, Known]] = {}
        self._pending: dict[str, _Job] = {}  # subject -> its job, waiting or being hashed
        self._queue: asyncio.Queue[_Job] | None = None  # None: not open (nothing is asked for then)
        self._worker: asyncio.Task[None] | None = None
        # One thread hashes, one file at a time, and it alone uses the table.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="repr-digest")
        self._stopping = threading.Event()
        self._table: _Table | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        path = self.folder / FILE_NAME
        self._table = await loop.run_in_executor(self._thread, _Table.open, path)
        self._known = await loop.run_in_executor(self._thread, self._table.load)
        log.info("%d Repr-Digest(s) read from %s", len(self._known), path)
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._work(), name="repr-digests")

    async def close(self) -> None:
        self._stopping.set()  # a file being hashed stops at its next read
        self._queue = None
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for job in list(self._pending.values()):
            self._release(job)
        # The thread runs its tasks in order: the table closes after the last hash and descriptor.
        if self._table is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._table.close)
        self._thread.shutdown(wait=True)

    def digests(self, subject: str, version: Version, source: Source) -> Known:
        """The digests of ``version`` of ``subject`` when known, else none, and the file is asked for (hashed
        from ``source``, which must hold that version: a local file is duplicated, not read, here)."""
        known = self._known.get(subject)
        if known is not None and known[0] == version:
            return known[1]
        self._ask(subject, version, source)
        return ()

    def published(self, subject: str, opener: Opener) -> None:
        """A file was just published: hash it in the background, opened by ``opener`` when its turn comes
        (nothing is awaited here: this runs on the upload's request path)."""
        if self._queue is None or subject in self._pending or len(self._pending) >= MAX_QUEUED:
            return
        job = _Job(subject, None, opener=opener)
        self._pending[subject] = job
        self._queue.put_nowait(job)

    def _ask(self, subject: str, version: Version, source: Source) -> None:
        if self._queue is None or subject in self._pending or len(self._pending) >= MAX_PENDING:
            return  # (published files waiting count too: those beyond it hold no descriptor)
        if isinstance(source, LocalFile):
            try:
                job = _Job(subject, version, fd=os.dup(source.fd))
            except OSError:  # out of descriptors: the next request asks again
                return
        else:
            job = _Job(subject, version, read=source.read)
        self._pending[subject] = job
        self._queue.put_nowait(job)

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            job = await queue.get()
            try:
                await self._compute(job)
            except OSError as exc:
                log.warning("could not compute the Repr-Digest of %s: %s", job.subject, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed file must not stop the next ones
                if ApiError.from_server_condition(exc) is None:
                    log.exception("could not compute the Repr-Digest of %s", job.subject)
                else:  # PostgreSQL or S3 out of reach, a full disk: a condition, not a bug
                    log.warning("could not compute the Repr-Digest of %s: %s", job.subject, exc)
            finally:
                self._release(job)

    def _release(self, job: _Job) -> None:
        """Forget ``job``; its descriptor is closed by the hashing thread, after any hash still reading it."""
        self._pending.pop(job.subject, None)
        if job.fd is not None:
            self._thread.submit(job.close)

    async def _open(self, job: _Job) -> bool:
        """Open a published file's job: whether there is something to hash (not gone, not known already)."""
        assert job.opener is not None
        opened = await job.opener()
        if opened is None:
            return False
        job.version, source = opened
        if isinstance(source, LocalFile):
            job.fd, source.fd = source.fd, -1  # the job owns the descriptor now
        else:
            job.read = source.read
        known = self._known.get(job.subject)
        return known is None or known[0] != job.version

    async def _compute(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if job.opener is not None and not await self._open(job):
            return
        assert job.version is not None
        if job.fd is not None:
            checksum = await loop.run_in_executor(
                self._thread, _hash_descriptor, job.fd, job.version, self._stopping
            )
        else:
            assert job.read is not None
            checksum = await _hash_stream(job.read, job.version[1])
        if checksum is None:
            if not self._stopping.is_set():
                log.info("%s changed while it was hashed: its Repr-Digest was not kept", job.subject)
            return
        self._known[job.subject] = (job.version, ((ALGORITHM, checksum),))
        self.computed += 1
        assert self._table is not None
        try:
            await loop.run_in_executor(self._thread, self._table.save, job.subject, job.version, checksum)
        except (
            sqlite3.Error,
            ValueError,
        ) as exc:  # kept in memory all the same; computed again after a restart
            log.warning("could not store the Repr-Digest of %s: %s", job.subject, exc)
            return
        # (Logged once stored, so whoever reads this line may rely on it surviving a restart.)
        log.info(
            "computed and stored the Repr-Digest of %s (%d bytes) in %.3f s",
            job.subject,
            job.version[1],
            time.perf_counter() - started,
        )


def _hash_descriptor(fd: int, version: Version, stopping: threading.Event) -> bytes | None:
    """The sha-256 of the file ``fd``, or None if it is not (or stops being) ``version`` (blocking)."""

    _, size, mtime_ns = version

    def unchanged() -> bool:
        st = os.fstat(fd)
        return (st.st_size, st.st_mtime_ns) == (size, mtime_ns)

    if not unchanged():
        return None
    hasher = digests.HASHES[ALGORITHM]()
    buffer = memoryview(bytearray(READ_SIZE))
    offset = 0
    while offset < size:
        if stopping.is_set():
            return None
        n = os.preadv(fd, [buffer[: min(READ_SIZE, size - offset)]], offset)
        if n == 0:
            return None  # shorter than the version's size: it changed
        hasher.update(buffer[:n])
        offset += n
    return hasher.digest() if unchanged() else None


async def _hash_stream(read: Callable[[int, int], AsyncIterator[bytes]], size: int) -> bytes | None:
    """The sha-256 of ``size`` bytes read from a backend's stream (hashed in a worker thread), or None when the
    stream does not give exactly that many."""
    hasher = OffLoopMD5(digests.HASHES[ALGORITHM]())  # (any hashlib object, despite its name)
    received = 0
    async for data in read(0, size):
        received += len(data)
        hasher.feed(data)
    await hasher.wait()
    return hasher.digests[0].digest() if received == size else None


class _Table:
    """``repr_digests``: one row per subject, its version and its digest (used from one thread at a time)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> _Table:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls(_connect(path))
        except sqlite3.DatabaseError as exc:
            # Only a cache: a damaged one is started afresh rather than keeping the server from starting.
            log.warning(
                "%s cannot be read (%s): starting it afresh; digests will be computed again", path, exc
            )
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return cls(_connect(path))

    def load(self) -> dict[str, tuple[Version, Known]]:
        rows = self._db.execute("SELECT subject, etag, size, mtime_ns, algorithm, digest FROM repr_digests")
        return {
            subject: ((etag, size, mtime_ns), ((algorithm, bytes(digest)),))
            for subject, etag, size, mtime_ns, algorithm, digest in rows
            if algorithm in digests.HASHES
        }

    def save(self, subject: str, version: Version, digest: bytes) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO repr_digests (subject, etag, size, mtime_ns, algorithm, digest, computed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (subject, *version, ALGORITHM, digest, time.time()),
        )

    def close(self) -> None:
        self._db.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # autocommit
    try:
        # A lost row costs one more hash, never a wrong answer (the version is checked): no fsync per row.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS repr_digests (subject TEXT PRIMARY KEY, etag TEXT NOT NULL,"
            " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, algorithm TEXT NOT NULL,"
            " digest BLOB NOT NULL, computed_at REAL NOT NULL)"
        )
        db.execute("SELECT count(*) FROM repr_digests").fetchone()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


REPR_DIGESTS: Final = web.AppKey("repr_digests", ReprDigests)


def setup(app: web.Application, folder: Path) -> None:
    """Keep the digests of ``app``'s files in ``folder``: read when the app starts, closed when it stops. Once
    per app (a second call does nothing)."""
    if REPR_DIGESTS in app:
        return
    store = app[REPR_DIGESTS] = ReprDigests(folder)

    async def opened(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    app.cleanup_ctx.append(opened)


def digests_for(app: web.Application, subject: str, version: Version, source: Source) -> Known:
    """``ReprDigests.digests`` of ``app``'s store; none when the app keeps none."""
    store = app.get(REPR_DIGESTS)
    return store.digests(subject, version, source) if store is not None else ()


def upload_subject(file_id: str) -> str:
    """The subject of an uploaded file: one digest per file, whatever extension it is offered under."""
    return f"upload/{file_id}"


def upload_version(file_id: str, size: int, mtime_ns: int) -> Version:
    """The version of an uploaded file as ``served.py`` serves it: its strong ETag is ``"<fileId>"``."""
    return (f'"{file_id}"', size, mtime_ns)


def published_hook(app: web.Application, store: Store) -> Callable[[StoredFile], None]:
    """The upload services' ``on_published``: queue each file published in ``store`` to be hashed in the
    background by ``app``'s digests. It returns at once and never raises (a failure is a log line)."""

    def on_published(stored: StoredFile) -> None:
        keeper = app.get(REPR_DIGESTS)
        if keeper is None:
            return
        try:
            keeper.published(
                upload_subject(stored.file_id), functools.partial(_open_upload, store, stored.file_id)
            )
        except Exception:  # never the upload's problem
            log.exception("could not queue the Repr-Digest of upload/%s", stored.file_id)

    return on_published


async def _open_upload(store: Store, file_id: str) -> tuple[Version, Source] | None:
    """A published file as ``served.py`` opens it (the same version it will serve), or None when it is gone."""
    stored = await store.get_file(file_id)
    if stored is None:
        return None
    if isinstance(store, LocalFiles):
        opened = await asyncio.to_thread(LocalFile.open, store.local_path(stored))
        return upload_version(file_id, opened.stat.st_size, opened.stat.st_mtime_ns), opened
    version = upload_version(file_id, stored.size, int(stored.created_at * 1e9))
    return version, StreamedFile(functools.partial(store.read_file, stored))
