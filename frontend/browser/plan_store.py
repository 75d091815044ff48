"""The chunk plans the page remembers across reloads (``frontend/engine/plan_cache.py``), in OPFS.

One folder of the origin's Origin Private File System, ``plans``: the index, ``index.json`` (the entries:
``plan_cache.PlanIndex``), and one file per plan, ``<slug>.plan`` (``plan_cache.encode_plan``; the slug is a
hash of the file's name, size and modification time). The downloads' folder (``opfs.py``) is another.

- Writes go through ``createWritable()`` (in the worker and on a main thread alike), which writes to a
  scratch file and replaces the file only when closed: a reload in the middle leaves the previous version
  whole. A plan's file is written before the index that names it; the index is read again before each
  change (another tab of the page may have changed it) and written whole.
- At start-up (``restore``) the expired entries and those over the bounds go, plan files the index does not
  name are removed (a crash between the two writes), and the rest is listed: the unfinished uploads.
- Nothing here fails for the person: storage that is full (``QuotaExceededError``), missing, or refuses is
  logged and the page goes on without the plan: the file is hashed next time, as if never remembered. Each
  operation is bounded in time (``TIMEOUT``), so a storage that never answers cannot hold a file back; and
  once one has run out of time, the store is given up for the page's life (``StoreGaveUp``): a storage that
  did not answer once would cost every file chosen after it the same wait. (Seen on CI with Playwright's
  build of Chromium 156 over a 16-byte quota, before ``js_promise``: a rejection Pyodide could not convert
  left the awaiting coroutine waiting, which looks the same from here.)
- Every storage method that answers a promise is called through ``js_promise.call_settled``, so that a
  rejection reaches Python (Pyodide cannot convert Chromium 156's ``QuotaExceededError``: see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from frontend.browser.js_promise import JsRejected, call_settled, js_object, opfs_folder
from frontend.engine.chunking import ChunkPlan
from frontend.engine.plan_cache import Entry, FileKey, Limits, PlanIndex, decode_plan, encode_plan

log = logging.getLogger(__name__)

FOLDER = "plans"
INDEX = "index.json"
SUFFIX = ".plan"
TIMEOUT = 10.0  # seconds an operation on the store may take; then it is given up (the file is hashed)


class StoreGaveUp(Exception):
    """An earlier operation ran out of time: the store is not asked again (see the module docstring)."""


def _failed(doing: str) -> None:
    """Log a storage failure (inside an ``except``). A full storage, one that does not answer, and one given
    up are expected, and only cost a hashing next time: info, one line. Anything else is worth a warning in
    the console, with its traceback."""
    exc = sys.exc_info()[1]
    expected = isinstance(exc, TimeoutError | StoreGaveUp) or (
        isinstance(exc, JsRejected) and exc.name == "QuotaExceededError"
    )
    reason = (
        f"no answer in {TIMEOUT:g} s" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
    )
    log.log(
        logging.INFO if expected else logging.WARNING, "%s failed: %s", doing, reason, exc_info=not expected
    )


class PlanStore:
    """The remembered plans; every method swallows storage errors (see the module docstring)."""

    def __init__(self, limits: Limits, now: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._now = now
        self._lock = asyncio.Lock()  # one change at a time: each reads the index, changes it, writes it
        self._folder: Any = None
        self._gave_up = False

    @contextlib.asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        """One operation: alone (the lock), within ``TIMEOUT``; the first to run out of it gives the store up."""
        try:
            async with asyncio.timeout(TIMEOUT), self._lock:
                if self._gave_up:  # also when it was given up while this one waited for the lock
                    raise StoreGaveUp("the storage did not answer earlier")
                yield
        except TimeoutError:
            self._gave_up = True
            raise

    async def restore(self) -> list[Entry]:
        """The unfinished uploads (entries not expired), most recently used first; cleans up the rest."""
        try:
            async with self._bounded():
                index = await self._read_index()
                removed = index.prune(self._now(), self.limits)
                if removed:
                    await self._write_index(index)
                named = {slug + SUFFIX for slug in index.entries}
                for name in await self._names():
                    if name != INDEX and name not in named:
                        await self._remove(name)
                return index.live(self._now(), self.limits)
        except Exception:  # noqa: BLE001 - storage must never stop the page
            _failed("reading the remembered plans")
            return []

    async def load(self, key: FileKey) -> ChunkPlan | None:
        """The plan remembered for ``key``'s file (and it is marked used), or None."""
        try:
            async with self._bounded():
                index = await self._read_index()
                now = self._now()
                if index.find(key, now, self.limits) is None:
                    return None
                plan = decode_plan(key, await self._read(key.slug + SUFFIX))
                if plan is None:  # lost or damaged: hash the file, forget the entry
                    await self._remove_all(index, index.remove(key))
                    return None
                index.touch(key, now)
                await self._write_index(index)
                return plan
        except Exception:  # noqa: BLE001 - logged by _failed
            _failed(f"reading the remembered plan of {key.name!r}")
            return None

    async def save(self, key: FileKey, plan: ChunkPlan, done: int = 0) -> bool:
        """Remember ``plan`` for ``key``'s file; False when the storage would not take it."""
        raw = encode_plan(key, plan)
        try:
            async with self._bounded():
                now = self._now()
                index = await self._read_index()
                entry = Entry(key, plan.file_id, len(raw), saved=now, used=now, done=done)
                if entry.plan_bytes > self.limits.max_bytes:
                    return False
                await self._write(key.slug + SUFFIX, raw.decode("utf-8"))
                removed = index.put(entry, self.limits)
                await self._remove_all(index, removed)
                return key.slug in index.entries
        except Exception:  # noqa: BLE001 - e.g. QuotaExceededError: hashing next time, nothing worse
            _failed(f"remembering the plan of {key.name!r}")
            await self._discard(key)
            return False

    async def touch(self, key: FileKey, done: int | None = None) -> None:
        """The upload goes on: keep its entry (``done``: the bytes the server has confirmed)."""
        try:
            async with self._bounded():
                index = await self._read_index()
                if index.touch(key, self._now(), done):
                    await self._write_index(index)
        except Exception:  # noqa: BLE001 - logged by _failed
            _failed(f"marking the plan of {key.name!r} used")

    async def forget(self, key: FileKey) -> None:
        """The upload finished (or the person removed the entry): its plan goes."""
        try:
            async with self._bounded():
                index = await self._read_index()
                await self._remove_all(index, index.remove(key))
        except Exception:  # noqa: BLE001 - logged by _failed
            _failed(f"removing the plan of {key.name!r}")

    # ------------------------------------------------------------------ OPFS

    async def _remove_all(self, index: PlanIndex, slugs: list[str]) -> None:
        """Write ``index``, then remove the plan files it no longer names."""
        await self._write_index(index)
        for slug in slugs:
            await self._remove(slug + SUFFIX)

    async def _discard(self, key: FileKey) -> None:
        """After a failed save: no entry, no file (as far as the storage still allows)."""
        try:
            async with self._bounded():
                index = await self._read_index()
                if index.remove(key):
                    await self._write_index(index)
                await self._remove(key.slug + SUFFIX)
        except Exception:
            log.debug("the plan of %r could not be discarded either", key.name, exc_info=True)

    async def _dir(self) -> Any:
        if self._folder is None:
            self._folder = await opfs_folder(FOLDER)
        return self._folder

    async def _read_index(self) -> PlanIndex:
        return PlanIndex.decode(await self._read(INDEX))

    async def _write_index(self, index: PlanIndex) -> None:
        await self._write(INDEX, index.encode())

    async def _read(self, name: str) -> str | None:
        js_folder = await self._dir()
        try:
            js_handle = await call_settled(js_folder, "getFileHandle", name)
        except JsRejected as exc:
            if exc.name == "NotFoundError":  # nothing remembered under that name
                return None
            raise
        js_file = await call_settled(js_handle, "getFile")
        return str(await call_settled(js_file, "text"))  # UTF-8, bad bytes replaced (then refused as JSON)

    async def _write(self, name: str, text: str) -> None:
        js_folder = await self._dir()
        js_handle = await call_settled(js_folder, "getFileHandle", name, js_object(create=True))
        js_writable = await call_settled(js_handle, "createWritable")
        try:
            await call_settled(js_writable, "write", text)
            await call_settled(js_writable, "close")  # the file is replaced only now, whole
        except BaseException:
            with contextlib.suppress(JsRejected):
                await call_settled(js_writable, "abort")
            raise

    async def _remove(self, name: str) -> None:
        with contextlib.suppress(JsRejected):  # gone already
            await call_settled(await self._dir(), "removeEntry", name)

    async def _names(self) -> list[str]:
        js_entries = (await self._dir()).keys()
        names = []
        while True:
            js_step = await call_settled(js_entries, "next")
            if js_step.done:
                return names
            names.append(str(js_step.value))
