"""The cluster backend: the storage contract over PostgreSQL (metadata, locks) and S3 (bytes).

Several server processes share one ``ClusterStore`` configuration; nothing one of them decides lives only in
its memory. PostgreSQL (``catalogue``) holds the rows and the locks (``SharedLocks``: the service takes its
per-file locks and its claims on an upload's end there); S3 (``objects``) holds every byte:

    uploads/<upload key>/<index>.<random>   a chunk (a seed chunk, or one append of a stream upload)
    assembled/<upload key>.<random>         an assembled file until it is published (then named by its row)

A chunk is written to its own object first, then recorded (``keep_chunk``): an object without a row is never
read, and is deleted when its upload ends. A published file's row names its object, so publishing is one
transaction and no object is copied. Assembly is one ordered pass over the chunk objects (``compose``), the
whole-file MD5 computed on the way: chunks arrive in any order and on any instance, so no process sees them
in order as they come (the local backend's in-place assembly has no equivalent here). What it costs is in
docs/benchmarks.md.

Objects left by a process that died mid-way (a chunk put but never kept, a multipart upload, an assembly never
published) are the ``sweep``'s: once older than ``STALE_SECONDS``, multipart uploads are aborted and objects
no row points at deleted (the listing of the bucket runs at most every ``STALE_SECONDS / 6`` per instance).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager

from server.storage.cluster.catalogue import Catalogue, Dropped, StoredObject
from server.storage.cluster.objects import Objects
from server.storage.cluster.postgres import PostgresOptions
from server.storage.contract import Assembly, Buffer, FileName, StagedChunk, StoredFile, Upload

log = logging.getLogger(__name__)

STALE_SECONDS = 6 * 3600.0
"""A multipart upload older than this is abandoned (its writer died): longer than any chunk's put or any
assembly takes, since another instance may still be writing a younger one."""


class ClusterStore:
    def __init__(
        self,
        database_url: str,
        storage_url: str,
        *,
        env: Mapping[str, str] | None = None,
        options: PostgresOptions | None = None,
        stale_seconds: float = STALE_SECONDS,
    ) -> None:
        self.catalogue = Catalogue(database_url, options)
        self.objects = Objects.from_url(storage_url, env)
        self.stale_seconds = stale_seconds
        self._assembled: dict[str, str] = {}  # upload key -> its assembled object, until published
        self._objects_swept_at = 0.0

    async def open(self) -> None:
        await self.catalogue.open()
        try:
            await self.objects.open()
        except BaseException:
            await self.catalogue.close()
            raise

    async def close(self) -> None:
        try:
            await self.objects.close()
        finally:
            await self.catalogue.close()

    # -- locks shared by every instance -----------------------------------------------------------------------

    def hold(self, key: str) -> AbstractAsyncContextManager[object]:
        return self.catalogue.lock(key)

    def try_hold(self, key: str) -> AbstractAsyncContextManager[object | None]:
        return self.catalogue.try_lock(key)

    # -- published files and names ----------------------------------------------------------------------------

    async def get_file(self, file_id: str) -> StoredFile | None:
        return await self.catalogue.file(file_id)

    async def read_file(self, file: StoredFile, start: int, length: int) -> AsyncIterator[bytes]:
        stored = file if isinstance(file, StoredObject) else await self.catalogue.file(file.file_id)
        if stored is None:
            raise FileNotFoundError(f"{file.file_id} is not a published file")
        async for data in self.objects.get(stored.object_key, start, length):
            yield data

    async def get_name(self, file_id: str, ext: str) -> FileName | None:
        return await self.catalogue.name(file_id, ext)

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        await self.catalogue.add_name(file_id, ext, name)

    # -- uploads in progress ----------------------------------------------------------------------------------

    async def get_upload(self, key: str) -> Upload | None:
        return await self.catalogue.upload(key)

    async def find_uploads(self, file_id: str) -> list[Upload]:
        return await self.catalogue.find_uploads(file_id)

    async def create_upload(
        self,
        key: str,
        chunk_ids: tuple[str, ...] | None,
        size: int | None,
        now: float,
        info: str | None = None,
        owner: str | None = None,
    ) -> Upload:
        upload, dropped = await self.catalogue.create_upload(key, chunk_ids, size, now, info, owner)
        await self._reclaim(dropped)
        return upload

    async def touch_upload(self, key: str, now: float, size: int | None = None) -> None:
        await self.catalogue.touch(key, now, size)

    async def count_uploads(self, holding_bytes: bool = False, owner: str | None = None) -> int:
        return await self.catalogue.count_uploads(holding_bytes, owner)

    async def uploads_untouched_since(self, when: float) -> list[str]:
        return await self.catalogue.untouched_since(when)

    async def delete_upload(self, key: str) -> None:
        await self._reclaim(await self.catalogue.delete_upload(key))

    async def _reclaim(self, dropped: Dropped) -> None:
        """Delete what rows no longer point at (after the rows went: a failure here leaves only garbage)."""
        if dropped.objects:
            await self.objects.delete(dropped.objects)

    # -- chunks -----------------------------------------------------------------------------------------------

    async def write_chunk(self, upload: Upload, index: int, reader: AsyncIterable[Buffer]) -> StagedChunk:
        key = f"uploads/{upload.key}/{index}.{uuid.uuid4().hex}"
        size, _md5 = await self.objects.put(key, reader)
        return StagedChunk(upload.key, index, size, key)

    async def keep_chunk(self, staged: StagedChunk) -> Upload:
        kept = await self.catalogue.keep_chunk(staged.upload, staged.index, staged.size, staged.key)
        if isinstance(kept, Upload):
            return kept
        # The service keeps only wanted chunks, under the file's shared lock: this is a bug, not a race.
        await self.objects.delete([staged.key])
        raise RuntimeError(f"chunk {staged.index} of {staged.upload} was not kept: {kept.value}")

    async def discard_chunk(self, staged: StagedChunk) -> None:
        await self.objects.delete([staged.key])

    async def read_upload(self, upload: Upload) -> AsyncIterator[bytes]:
        for chunk in await self.catalogue.chunk_objects(upload.key):
            async for data in self.objects.get(chunk.object_key, 0, chunk.size):
                yield data

    # -- assembly ---------------------------------------------------------------------------------------------

    async def assemble(self, upload: Upload) -> Assembly:
        chunks = await self.catalogue.chunk_objects(upload.key)
        if len(chunks) != upload.chunk_count:
            raise RuntimeError(f"assemble({upload.key}) called with chunks missing")
        target = f"assembled/{upload.key}.{uuid.uuid4().hex}"
        size, md5 = await self.objects.compose(target, [(chunk.object_key, chunk.size) for chunk in chunks])
        self._assembled[upload.key] = target
        return Assembly(upload.key, md5, size)

    async def publish(self, assembly: Assembly) -> StoredFile:
        target = self._assembled.pop(assembly.upload)
        publication = await self.catalogue.publish(
            assembly.upload, assembly.md5, assembly.size, target, time.time()
        )
        if not publication.created:  # the same bytes were published before: keep those
            await self.objects.delete([target])
        await self._reclaim(publication.dropped)
        return publication.file

    async def discard_assembly(self, assembly: Assembly) -> None:
        target = self._assembled.pop(assembly.upload, None)
        if target is not None:
            await self.objects.delete([target])

    # -- housekeeping -----------------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Abort the multipart uploads their writers abandoned and delete the objects nobody points at (what a
        process killed mid-way left)."""
        aborted = await self.objects.abort_stale_multipart(self.stale_seconds)
        if aborted:
            log.info("aborted %d abandoned multipart upload(s) in S3", aborted)
        now = time.time()
        if now - self._objects_swept_at < self.stale_seconds / 6:
            return
        self._objects_swept_at = now
        # Rows first, then the listing: an object older than the threshold that no row names now never will
        # (a chunk is kept, an assembly published, seconds after its object is written).
        referenced = await self.catalogue.object_keys()
        old = await self.objects.keys_before(now - self.stale_seconds)
        orphans = [key for key in old if key.startswith(("uploads/", "assembled/")) and key not in referenced]
        if orphans:
            await self.objects.delete(orphans)
            log.info("deleted %d object(s) in S3 that no upload or file points at", len(orphans))
