"""MD5s of a stream of bytes, computed in a worker thread while the bytes are still arriving.

The event loop hands each network read to ``OffLoopMD5.feed`` (a reference and a lock: microseconds) and goes
on receiving; one worker thread at a time per stream hashes what has been handed over, in order, into every
digest it was given (one read of the bytes feeds them all: a chunk's own MD5 and the file's running MD5),
picking up every piece that arrived meanwhile in the same run, so a slow hash means fewer hand-offs, not
more. hashlib releases the GIL while it hashes a buffer of 2 KiB or more, so the hashing runs on the other
core beside the loop, which keeps answering other requests. ``await wait()`` returns once everything fed
is hashed; then the digests may be read.

Memory: pieces are held by reference until hashed. Writable buffers are copied (the caller may reuse them).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

# Shared by every request: hashing is CPU work, so more threads than cores would only queue in the kernel.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="md5")


class OffLoopMD5:
    """Feeds ``digests`` off the loop. ``feed`` from the loop, ``await wait()``, then read the digests."""

    def __init__(self, *digests: hashlib._Hash) -> None:
        self.digests = digests
        self._pending: deque[bytes | memoryview] = deque()
        self._lock = threading.Lock()
        self._running = False  # a worker is draining _pending
        self._done: asyncio.Future[None] | None = None  # made by wait(): completed when all is hashed
        self._failure: BaseException | None = None

    def feed(self, data: bytes | memoryview) -> None:
        if not isinstance(data, bytes) and not (isinstance(data, memoryview) and data.readonly):
            data = bytes(data)
        with self._lock:
            self._pending.append(data)
            if self._running:
                return  # the worker picks it up before it stops
            self._running = True
        _POOL.submit(self._drain)

    async def wait(self) -> None:
        """Return once everything fed so far is hashed (raises what hashing raised, if anything)."""
        with self._lock:
            if self._running:
                if self._done is None or self._done.done():
                    self._done = asyncio.get_running_loop().create_future()
                done = self._done
            else:
                done = None
        if done is not None:
            await asyncio.shield(done)  # a cancelled waiter must not cancel the next one's future
        if self._failure is not None:
            raise self._failure

    def _drain(self) -> None:
        """In a worker thread: hash the pending pieces, in order, until none is left."""
        while True:
            with self._lock:
                if not self._pending:
                    self._running = False
                    done = self._done
                    break
                pieces = list(self._pending)
                self._pending.clear()
            try:
                for piece in pieces:
                    for digest in self.digests:
                        digest.update(piece)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                self._failure = exc
        if done is not None:
            done.get_loop().call_soon_threadsafe(_resolve, done)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
