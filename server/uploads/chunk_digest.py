"""A chunk's MD5, computed in a worker thread while its bytes are still arriving.

The event loop hands each network read to ``ChunkDigest.feed`` (a reference and a lock: microseconds) and
goes on receiving; one worker thread at a time per chunk hashes what has been handed over, in order, picking
up every piece that arrived meanwhile in the same run (so a slow hash means fewer hand-offs, not more).
hashlib releases the GIL while it hashes a buffer of 2 KiB or more, so the MD5 runs on the other core
beside the loop, which keeps answering other requests and, for a chunk written in place, hashes the same
bytes into the file's running MD5 (``LocalStorage``'s ``PrefixAppender``). ``digest()`` waits for the
rest and gives the hex MD5.

Memory: pieces are held by reference until hashed; hashing (~600 MB/s a core) outruns loopback ingest
per request, so little waits. Writable buffers are copied (the caller may reuse them).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

# Shared by every request: hashing is CPU work, so more threads than cores would only queue in the kernel.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chunk-md5")


class ChunkDigest:
    """The MD5 of the bytes fed so far, hashed off the loop. ``feed`` from the loop, then ``await digest()``."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._pending: deque[bytes | memoryview] = deque()
        self._lock = threading.Lock()
        self._running = False  # a worker is draining _pending
        self._done: asyncio.Future[None] | None = None  # set by digest(): completed when all is hashed
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

    async def digest(self) -> str:
        """The hex MD5 of everything fed, once the worker has hashed it all."""
        with self._lock:
            if self._running:
                self._done = asyncio.get_running_loop().create_future()
        if self._done is not None:
            await self._done
        if self._failure is not None:
            raise self._failure
        return self._md5.hexdigest()

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
                    self._md5.update(piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                self._failure = exc
        if done is not None:
            done.get_loop().call_soon_threadsafe(_resolve, done)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # the request may have been cancelled meanwhile
        future.set_result(None)
