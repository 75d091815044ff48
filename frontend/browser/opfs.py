"""Partial downloads in the browser's Origin Private File System (OPFS), from the page's worker.

The engine's ``PartialFile`` port (``frontend/engine/download_ports.py``) over OPFS, and the folder of them:

- Everything lives in one folder of the origin's OPFS, ``downloads``: per download (``key``) a data file
  ``<key>.data`` and two journal slots ``<key>.j0`` / ``<key>.j1``.
- Bytes go through ``createSyncAccessHandle()`` (workers only): positioned ``write(buffer, {at})`` and
  ``read(buffer, {at})``, ``truncate``, ``flush``, all synchronous in the worker (no trip through the event
  loop per piece). The pieces of a body are written as ``fetch`` gave them (``fetch_stream.JsPiece``), and a
  segment's ``sha256`` is the browser's (``crypto.subtle``) over one read of it. A sync access handle locks its file: a download going on in another tab cannot be opened
  here (``STORAGE_BUSY``).
- ``commit`` flushes the data file, THEN writes the journal, alternating between the two slots
  (``download_journal.seal``: a sequence number and a checksum before the JSON): a journal torn by a crash
  fails its check and the other slot (the previous commit) is used, so a crash never loses more than the
  segments of one commit.
- ``reset`` writes the journal before the data file exists, and allocates the data file at its full size
  (``truncate``), so the quota is taken at the start: a download that does not fit fails at once, and what
  it created is removed (nothing half-saved).
- ``deliver`` closes the handles and hands the page the OPFS ``File`` (``getFile()``: backed by the file,
  nothing is read into memory); the page saves it as a normal browser download through an object URL.
- ``OpfsDownloads.restore`` lists the downloads a previous page left (their journals), removes finished ones
  (handed over already: their space is freed), unfinished ones not touched for ``EXPIRY_DAYS`` and data
  files without a journal, and returns the rest, to be continued.

Only this module touches OPFS; errors become the engine's: ``QuotaExceededError`` -> ``NO_SPACE``,
``NoModificationAllowedError`` (locked by another tab) -> ``STORAGE_BUSY``, anything else ->
``STORAGE_FAILED``. The methods that answer a promise are called through ``js_promise.call_settled`` (a
rejection raises ``JsRejected``: Pyodide cannot convert Chromium 156's ``QuotaExceededError``, and the
download would wait forever), each within ``STORAGE_TIMEOUT``: a storage that never answers fails the
download with ``STORAGE_FAILED`` (its row says so) instead of leaving it "downloading" with nothing moving.
The synchronous ones raise ``JsException``: ``STORAGE_ERRORS`` catches both.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException  # type: ignore[import-not-found]

from frontend.browser.js_promise import JsRejected, call_settled, js_object, opfs_folder
from frontend.engine.download_journal import Journal, latest, seal
from frontend.engine.errors import EngineError, Err

FOLDER = "downloads"
EXPIRY_DAYS = 7  # an unfinished download nobody continued for a week is removed
DATA, SLOTS = ".data", (".j0", ".j1")
READ_BLOCK = 1024 * 1024
STORAGE_ERRORS = (JsException, JsRejected)
STORAGE_TIMEOUT = 30.0  # seconds one storage call may take (they take milliseconds): then the download fails

Save = Callable[[Any, str], None]
"""``save(js_file, name)``: hand the finished OPFS ``File`` to the page, to be saved under ``name``."""


async def _call(js_target: Any, method: str, *args: Any) -> Any:
    """One storage call that answers a promise, within ``STORAGE_TIMEOUT``."""
    return await call_settled(js_target, method, *args, timeout=STORAGE_TIMEOUT)


def _error_name(exc: BaseException) -> str:
    name = getattr(exc, "name", None)
    return name if isinstance(name, str) else str(exc).split(":", 1)[0].strip()


def no_room(size: int) -> str:
    return (
        f"there is not enough space in the browser's storage for {size / 1024 / 1024:.1f} MiB: "
        "free some space (other downloads, site data) and try again"
    )


def storage_error(exc: BaseException, doing: str) -> EngineError:
    """An OPFS failure as the engine's error."""
    name = _error_name(exc)
    if name == "QuotaExceededError":
        return EngineError(Err.NO_SPACE, f"the browser's storage is full ({doing})")
    if name in ("NoModificationAllowedError", "InvalidModificationError"):
        return EngineError(Err.STORAGE_BUSY, f"{Err.STORAGE_BUSY.message} ({doing}: {exc})")
    return EngineError(Err.STORAGE_FAILED, f"{Err.STORAGE_FAILED.message} ({doing}: {exc})")


def key_for(url: str) -> str:
    """The download's name in OPFS: the same URL is the same download, across reloads."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]


async def _folder() -> Any:
    return await opfs_folder(FOLDER, timeout=STORAGE_TIMEOUT)


async def _remove(js_folder: Any, name: str) -> None:
    try:
        await _call(js_folder, "removeEntry", name)
    except STORAGE_ERRORS:
        pass  # gone already, or locked by another tab (it is then that tab's)


async def _read_text(js_folder: Any, name: str) -> str | None:
    try:
        js_handle = await _call(js_folder, "getFileHandle", name)
        js_file = await _call(js_handle, "getFile")
        return str(await _call(js_file, "text"))
    except STORAGE_ERRORS:
        return None


class OpfsPartialFile:
    """Implements ``frontend.engine.download_ports.PartialFile`` for one download (``key``)."""

    def __init__(self, key: str, save: Save) -> None:
        self.key = key
        self._save = save
        self._folder: Any = None
        self._data: Any = None  # the data file's sync access handle while open
        self._slots: list[Any] = [None, None]
        self._seq = 0
        self._at = js_object(at=0)  # reused: positioned reads and writes set ``at``
        # Lanes commit concurrently, and a file has one sync access handle at a time: a second
        # ``createSyncAccessHandle`` of the same file fails while the first is being opened.
        self._lock = asyncio.Lock()

    async def _dir(self) -> Any:
        if self._folder is None:
            try:
                self._folder = await _folder()
            except STORAGE_ERRORS as exc:
                raise storage_error(exc, "opening the downloads folder") from exc
        return self._folder

    async def _handle(self, name: str, create: bool) -> Any:
        js_folder = await self._dir()
        js_file = await _call(js_folder, "getFileHandle", name, js_object(create=create))
        return await _call(js_file, "createSyncAccessHandle")

    # -- the journal

    async def journal(self) -> Journal | None:
        js_folder = await self._dir()
        best = latest([await _read_text(js_folder, self.key + suffix) for suffix in SLOTS])
        if best is None:
            return None
        self._seq = best[0]
        return best[1]

    async def _write_journal(self, journal: Journal) -> None:
        async with self._lock:
            await self._write_slot(journal)

    async def _write_slot(self, journal: Journal) -> None:
        self._seq += 1
        slot = self._seq % 2
        if self._slots[slot] is None:
            self._slots[slot] = await self._handle(self.key + SLOTS[slot], create=True)
        js_slot = self._slots[slot]
        raw = seal(self._seq, journal)
        js_bytes = js.Uint8Array.new(len(raw))
        js_bytes.assign(raw)
        js_slot.truncate(0)
        self._at.at = 0
        js_slot.write(js_bytes, self._at)
        js_slot.flush()

    # -- the port

    async def reset(self, journal: Journal) -> None:
        try:
            await self._close()
            await self._write_journal(journal)  # the journal first: no data file without one
            self._data = await self._handle(self.key + DATA, create=True)
            self._data.truncate(0)
            self._data.truncate(journal.size)  # allocated now: the quota is taken at the start
            self._data.flush()
            allocated = int(self._data.getSize())
        except STORAGE_ERRORS as exc:
            await self.discard()  # nothing half-made stays
            raise storage_error(exc, f"making room for {journal.size} bytes") from exc
        if allocated != journal.size:  # Chromium refuses a size over the quota without a word: check it
            await self.discard()
            raise EngineError(Err.NO_SPACE, no_room(journal.size))

    async def _open_data(self) -> Any:
        async with self._lock:
            if self._data is None:
                try:
                    self._data = await self._handle(self.key + DATA, create=False)
                except STORAGE_ERRORS as exc:
                    raise storage_error(exc, "opening the partial file") from exc
            return self._data

    async def write(self, offset: int, data: Any) -> None:
        """``data``: a ``fetch_stream.JsPiece`` (written as it is), or bytes (copied out of Python)."""
        js_data = self._data or await self._open_data()
        js_bytes = getattr(data, "js_array", None)
        if js_bytes is None:
            js_bytes = js.Uint8Array.new(len(data))
            js_bytes.assign(data)
        self._at.at = offset
        try:
            written = js_data.write(js_bytes, self._at)
        except STORAGE_ERRORS as exc:
            raise storage_error(exc, f"writing {len(data)} bytes at {offset}") from exc
        if written != len(data):  # Chromium answers a write over the quota with a bogus count, not an error
            raise EngineError(
                Err.STORAGE_FAILED,
                f"the browser's storage took {written} of {len(data)} bytes at {offset} (is it full?)",
            )

    async def read(self, offset: int, size: int) -> bytes:
        js_data = self._data or await self._open_data()
        js_bytes = js.Uint8Array.new(size)
        self._at.at = offset
        try:
            got = int(js_data.read(js_bytes, self._at))
        except STORAGE_ERRORS as exc:
            raise storage_error(exc, f"reading {size} bytes at {offset}") from exc
        return js_bytes.subarray(0, got).to_bytes()

    async def sha256(self, start: int, end: int) -> bytes:
        """One read of the range into JavaScript's memory and the browser's own SHA-256 (native: several
        times faster than hashing in Python), for a segment's ``Content-Digest``."""
        js_data = self._data or await self._open_data()
        js_bytes = js.Uint8Array.new(end - start)
        self._at.at = start
        try:
            got = int(js_data.read(js_bytes, self._at))
            js_digest = await _call(js.crypto.subtle, "digest", "SHA-256", js_bytes.subarray(0, got))
        except STORAGE_ERRORS as exc:
            raise storage_error(exc, f"reading bytes {start}-{end - 1} back") from exc
        return js.Uint8Array.new(js_digest).to_bytes()

    async def commit(self, journal: Journal) -> None:
        try:
            (self._data or await self._open_data()).flush()  # the bytes first...
            await self._write_journal(journal)  # ...then the journal that lists them
        except STORAGE_ERRORS as exc:
            raise storage_error(exc, "saving the journal") from exc

    async def discard(self) -> None:
        await self._close()
        try:
            js_folder = await self._dir()
        except EngineError:
            return  # nothing can be removed from a folder that cannot be opened
        for suffix in (DATA, *SLOTS):
            await _remove(js_folder, self.key + suffix)
        self._seq = 0

    async def deliver(self, name: str) -> None:
        await self._close()  # the lock goes: the File can be read (and saved) now
        try:
            js_folder = await self._dir()
            js_handle = await _call(js_folder, "getFileHandle", self.key + DATA)
            js_file = await _call(js_handle, "getFile")
        except STORAGE_ERRORS as exc:
            raise storage_error(exc, "handing the file over") from exc
        self._save(js_file, name)

    async def close(self) -> None:
        """Let go of the files (the page goes away, or the download is paused for long)."""
        await self._close()

    async def _close(self) -> None:
        for js_handle in (self._data, *self._slots):
            if js_handle is not None:
                try:
                    js_handle.flush()
                    js_handle.close()
                except STORAGE_ERRORS:
                    pass
        self._data = None
        self._slots = [None, None]


class StorageEstimate:
    """Implements ``frontend.engine.download_ports.StorageSpace``: ``navigator.storage.estimate()``."""

    async def available(self) -> int | None:
        try:
            js_estimate = await _call(js.navigator.storage, "estimate")
        except STORAGE_ERRORS:
            return None
        quota, usage = getattr(js_estimate, "quota", None), getattr(js_estimate, "usage", None)
        if quota is None or usage is None:
            return None
        return max(0, int(quota) - int(usage))


async def restore(now_ms: float | None = None) -> list[Journal]:
    """The unfinished downloads a previous page left, to be continued; removes what is not worth keeping
    (finished: handed over already; untouched for ``EXPIRY_DAYS``; data without a journal)."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    try:
        js_folder = await _folder()
        names = []
        js_entries = js_folder.keys()
        while True:
            js_step = await _call(js_entries, "next")
            if js_step.done:
                break
            names.append(str(js_step.value))
    except STORAGE_ERRORS:
        return []
    keys = {name.rsplit(".", 1)[0] for name in names}
    kept: list[Journal] = []
    for key in sorted(keys):
        found = latest([await _read_text(js_folder, key + suffix) for suffix in SLOTS])
        journal = found[1] if found is not None else None
        stale = journal is not None and now_ms - journal.updated > EXPIRY_DAYS * 86_400_000
        if journal is None or journal.finished or stale:
            for suffix in (DATA, *SLOTS):
                await _remove(js_folder, key + suffix)
            continue
        kept.append(journal)
    return kept
