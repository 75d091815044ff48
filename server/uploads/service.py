"""The upload service: the seed's chunked-upload protocol over any ``Storage``, safe under concurrency.

Decisions live here, I/O in the storage backend. Every state change of one file (creating its upload,
recording a chunk, assembling, expiring) happens under that file's lock, so:

- each chunk is checked against its id as it arrives (``--verify-chunks arrival``, the default): bytes
  whose MD5 is not the one the chunkId names are refused at once (``422 CHUNK_MISMATCH``, ``data`` the ids
  still needed, so the seed's client sends it again) and nothing of them is kept; so every stored chunk is a
  verified one, and a verified copy is never replaced by, nor dropped for, an unverified one;
- chunks may arrive in any order, in parallel and twice: each is recorded as stored once (a second copy
  of a stored chunk is dropped);
- nothing unverified is published: the assembled file must have the MD5 its fileId says. When it does not
  (damage after arrival, on disk; or, with ``--verify-chunks assembly``, chunks never checked on their own),
  each chunk of the assembled file is checked against its id (``_assemble``): the damaged ones are dropped
  and asked for again (``422 CHUNKS_DAMAGED``), the good ones kept;
- assembly happens exactly once, however many requests bring the last chunks or how many clients upload the
  same file at once: the first one to find nothing missing assembles, the others then find it published;
- the slow parts (receiving bytes, fsync) happen outside the lock, so parallel chunks do not queue;
- assembly runs ahead in the background (``Storage.advance``) as chunks arrive in order, so the answer to
  the last chunk does not wait for a whole-file copy and hash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from server.errors import ApiError, E
from server.settings import Settings, VerifyChunks
from server.storage.base import ChunkAppender, ChunkSpool, Storage, StoredFile, UploadRecord
from server.uploads.protocol import ChunkId, Handshake

log = logging.getLogger(__name__)


class KeyedLocks:
    """One ``asyncio.Lock`` per key, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def _listed(upload: UploadRecord, chunk: ChunkId) -> bool:
    """Whether ``chunk`` is in the upload's chunk list, at its index."""
    return chunk.index < len(upload.chunk_ids) and upload.chunk_ids[chunk.index] == str(chunk)


@dataclass(frozen=True)
class ReceivedChunk:
    """A chunk's bytes, spooled (or written straight into the prefix), not yet trusted, and their MD5 (hex;
    None when chunks are checked only at assembly)."""

    spool: ChunkSpool
    size: int
    md5: str | None


class UploadService:
    def __init__(self, storage: Storage, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.locks = KeyedLocks()
        self._advancing: dict[str, asyncio.Task[None]] = {}
        # Who started each upload of this process (uploads from before a restart count for nobody).
        self._started_by: dict[str, set[str]] = {}
        self._starter: dict[str, str] = {}
        self._advance_again: set[str] = set()

    async def close(self) -> None:
        """Stop background assembly (what it did so far is kept; what it did not is redone later)."""
        tasks = list(self._advancing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def handshake(self, hs: Handshake, client: str | None = None) -> StoredFile | list[str]:
        """The published file if its content is already stored, else the chunk ids still needed, in order.

        A refused handshake (no space, too many uploads, another chunk list) writes nothing: the extension is
        offered (``add_name``) only once the upload is open or the file found."""
        existing = await self.storage.get_file(hs.file_id)
        if existing is not None:
            await self.storage.add_name(hs.file_id, hs.ext, hs.name)
            return existing
        await self._check_space(0)
        async with self.locks.hold(hs.file_id):
            existing = await self.storage.get_file(hs.file_id)
            if existing is not None:  # published while we waited for the lock
                await self.storage.add_name(hs.file_id, hs.ext, hs.name)
                return existing
            upload = await self._open_upload(hs, client)
            await self.storage.add_name(hs.file_id, hs.ext, hs.name)
            needed = await self._needed(upload)
            if needed:
                return needed
            # Everything is stored (an empty file, or a crash before assembly): finish it now.
            return await self._assemble(upload)

    async def _open_upload(self, hs: Handshake, client: str | None) -> UploadRecord:
        now = self.clock()
        upload = await self.storage.get_upload(hs.file_id)
        if upload is not None and upload.chunk_ids == hs.chunk_ids:
            await self.storage.touch_upload(hs.file_id, now)
            return upload
        if upload is not None and await self.storage.stored_chunks(hs.file_id):
            raise ApiError(
                E.CHUNK_LIST_CONFLICT,
                "an upload of this file with a different chunk list (another chunk size?) is in progress; "
                "use the same chunk size or wait until it finishes or expires",
            )
        # A slot is taken once bytes arrive: handshakes alone (anyone who knows an MD5 can send them) cannot
        # fill the server; the empty uploads they leave expire after --empty-upload-ttl-seconds.
        limit = self.settings.max_uploads_in_progress
        if upload is None and await self.storage.count_uploads(holding_bytes=True) >= limit:
            raise ApiError(
                E.TOO_MANY_UPLOADS,
                f"{limit} uploads holding data are in progress, the most this server keeps; try again later",
            )
        if upload is None and client is not None:
            self._check_client_uploads(client)
        record = UploadRecord(hs.file_id, hs.chunk_ids, hs.size, now, now)
        await self.storage.put_upload(record)
        if upload is None and client is not None:
            self._started_by.setdefault(client, set()).add(hs.file_id)
            self._starter[hs.file_id] = client
        return record

    def _check_client_uploads(self, client: str) -> None:
        limit = self.settings.max_uploads_per_client
        if limit and len(self._started_by.get(client, ())) >= limit:
            raise ApiError(
                E.TOO_MANY_UPLOADS,
                f"{client} has {limit} unfinished uploads, the most one client may have; finish some first",
            )

    def _ended(self, file_id: str) -> None:
        """An upload was published or forgotten: it no longer counts for the client that started it."""
        client = self._starter.pop(file_id, None)
        if client is not None:
            started = self._started_by.get(client)
            if started is not None:
                started.discard(file_id)
                if not started:
                    del self._started_by[client]

    async def _needed(self, upload: UploadRecord) -> list[str]:
        stored = await self.storage.stored_chunks(upload.file_id)
        return [chunk_id for index, chunk_id in enumerate(upload.chunk_ids) if index not in stored]

    async def open_appender(self, file_id: str, chunk: ChunkId) -> ChunkAppender | None:
        """Where to write a chunk whose ids came before its bytes, when it is the next one its file needs.

        None when it is not (or the upload is unknown: ``receive_chunk`` then says why, after the bytes).
        The appender is then passed to ``receive_chunk`` like a spool.
        """
        upload = await self.storage.get_upload(file_id)
        if upload is None or not _listed(upload, chunk):
            return None
        return await self.storage.open_appender(upload, chunk.index)

    async def receive_chunk(self, file_id: str, chunk: ChunkId, data: ReceivedChunk) -> list[str]:
        """Record one chunk; assemble (and verify) when it was the last one. Returns the ids still needed."""
        try:
            upload = await self._upload_for_chunk(file_id, chunk)
            if upload is None:  # already published: a late duplicate of a chunk, harmless
                await data.spool.discard()
                return []
            await self._check_bytes(upload, chunk, data)
            await self._check_space(data.size)
            await data.spool.seal()  # fsync outside the lock: parallel chunks do not wait for each other
        except BaseException:
            await data.spool.discard()
            raise
        async with self.locks.hold(file_id):
            upload = await self._upload_for_chunk(file_id, chunk)
            if upload is None:
                await data.spool.discard()
                return []
            try:
                self._check_size(upload, await self.storage.stored_chunks(file_id), chunk.index, data.size)
            except ApiError:
                await data.spool.discard()
                raise
            if not await self.storage.store_chunk(file_id, chunk.index, data.spool, data.size):
                raise ApiError(E.UNKNOWN_UPLOAD)
            now = self.clock()
            # Expiry counts in hours by default: one write a second (at most) per upload is plenty.
            if now - upload.updated_at >= min(1.0, self.settings.upload_ttl_seconds / 10):
                await self.storage.touch_upload(file_id, now)
            needed = await self._needed(upload)
            if not needed:
                await self._assemble(upload)
                return needed
        self._advance_later(file_id)
        return needed

    async def _check_bytes(self, upload: UploadRecord, chunk: ChunkId, data: ReceivedChunk) -> None:
        """Refuse a chunk whose bytes do not have the MD5 its id names (before it is stored, so it stays
        needed and the next copy is taken)."""
        if self.settings.verify_chunks is not VerifyChunks.ARRIVAL or data.md5 == chunk.md5:
            return
        if data.md5 is None:
            raise RuntimeError("chunks are checked as they arrive, but this one's MD5 was not computed")
        log.info(
            "refused chunk %d of %s: its MD5 is %s, not %s", chunk.index, upload.file_id, data.md5, chunk.md5
        )
        raise ApiError(
            E.CHUNK_MISMATCH,
            f"chunk {chunk.index} does not match its chunkId: its bytes have MD5 {data.md5}, the chunkId says "
            f"{chunk.md5}; it was not stored, send it again",
            await self._needed(upload),  # what the seed's client sends next: this chunk among them
        )

    async def _check_space(self, incoming: int) -> None:
        """507 when storing ``incoming`` more bytes would leave less free than ``--min-free-bytes``."""
        free = await self.storage.free_bytes()
        margin = self.settings.min_free_bytes
        if free is not None and free - incoming < margin:
            raise ApiError(
                E.INSUFFICIENT_STORAGE,
                f"the server's disk is full: {free} bytes free, and it keeps at least {margin} free; nothing "
                "was stored, try again once space is freed (what was stored before is kept)",
            )

    def _advance_later(self, file_id: str) -> None:
        """Run ``Storage.advance`` for this file in the background; one runner per file, re-run if asked."""
        if file_id in self._advancing:
            self._advance_again.add(file_id)
            return
        self._advancing[file_id] = asyncio.create_task(self._advance(file_id), name=f"advance-{file_id}")

    async def _advance(self, file_id: str) -> None:
        try:
            while True:
                self._advance_again.discard(file_id)
                async with self.locks.hold(file_id):
                    upload = await self.storage.get_upload(file_id)
                    if upload is not None:
                        await self.storage.advance(upload)
                if file_id not in self._advance_again:
                    return
        except Exception as exc:  # the final assembly does the work again and reports any error to the client
            if ApiError.from_server_condition(exc) is not None:
                log.warning("background assembly of %s stopped: %s", file_id, exc)
            else:
                log.exception("background assembly of %s failed", file_id)
        finally:
            del self._advancing[file_id]

    async def _upload_for_chunk(self, file_id: str, chunk: ChunkId) -> UploadRecord | None:
        upload = await self.storage.get_upload(file_id)
        if upload is None:
            if await self.storage.get_file(file_id) is not None:
                return None
            raise ApiError(
                E.UNKNOWN_UPLOAD, f"no upload in progress for fileId {file_id}: send the handshake first"
            )
        if not _listed(upload, chunk):
            raise ApiError(E.UNKNOWN_CHUNK, f"chunkId {chunk} is not in the chunk list of file {file_id}")
        return upload

    def _check_size(self, upload: UploadRecord, stored: Mapping[int, int], index: int, size: int) -> None:
        total = size + sum(stored.values()) - stored.get(index, 0)  # C-speed: this runs for every chunk
        limit = self.settings.max_file_bytes
        if total > limit:
            raise ApiError(
                E.FILE_TOO_LARGE, f"the chunks add up to more than {limit} bytes, the most accepted"
            )
        if upload.size is not None and total > upload.size:
            raise ApiError(
                E.FILE_TOO_LARGE,
                f"the chunks add up to more than the {upload.size} bytes the handshake declared",
            )

    async def _assemble(self, upload: UploadRecord) -> StoredFile:
        """Called under the file's lock with every chunk stored: verify the whole file, then publish it."""
        started = time.monotonic()
        assembly = await self.storage.assemble(upload)
        problem = None
        if assembly.md5 != upload.file_id:
            problem = f"the assembled file has MD5 {assembly.md5}, not the fileId {upload.file_id}"
            damaged = await self.storage.damaged_chunks(upload, assembly)
            if damaged:  # the chunks were damaged on the way (or lied about): only they are needed again
                await self.storage.drop_chunks(upload, damaged)
                shown = ", ".join(str(index) for index in damaged[:10]) + (
                    ", ..." if len(damaged) > 10 else ""
                )
                raise ApiError(
                    E.CHUNKS_DAMAGED,
                    f"{problem}: {len(damaged)} chunk(s) do not match their chunkId (index {shown}); they were "
                    "dropped and the others kept: handshake again and send what it lists",
                    [upload.chunk_ids[index] for index in damaged],
                )
        elif upload.size is not None and assembly.size != upload.size:
            problem = (
                f"the assembled file has {assembly.size} bytes, not the {upload.size} the handshake declared"
            )
        if problem is not None:
            await self.storage.discard_assembly(assembly)
            await self.storage.delete_upload(upload.file_id)
            self._ended(upload.file_id)
            raise ApiError(E.FILE_MISMATCH, f"{problem}; the upload was discarded, start it again")
        stored = await self.storage.publish(assembly)
        self._ended(upload.file_id)
        log.info(
            "assembled %s: %d bytes from %d chunks in %.2fs",
            upload.file_id,
            stored.size,
            len(upload.chunk_ids),
            time.monotonic() - started,
        )
        return stored

    async def sweep(self) -> list[str]:
        """Forget uploads untouched for longer than the TTL (an upload no chunk of which arrived: longer than
        the empty-upload TTL) and reclaim their space."""
        now = self.clock()
        deadline = now - self.settings.upload_ttl_seconds
        empty_deadline = now - self.settings.empty_upload_ttl_seconds
        expired = []
        for file_id in await self.storage.uploads_untouched_since(max(deadline, empty_deadline)):
            async with self.locks.hold(file_id):
                upload = await self.storage.get_upload(file_id)
                if upload is None:
                    continue
                empty = not await self.storage.stored_chunks(file_id)
                if upload.updated_at < deadline or (empty and upload.updated_at < empty_deadline):
                    await self.storage.delete_upload(file_id)
                    self._ended(file_id)
                    expired.append(file_id)
        if expired:
            log.info("expired %d abandoned upload(s)", len(expired))
        return expired
