"""The upload service: the seed's chunked-upload protocol over any ``Store``, safe under concurrency.

Every decision is taken here and the store only does I/O. Each state change of one file (creating its
upload, keeping a chunk, assembling, expiring) happens under that file's lock (``coordination``: in memory,
or shared by every instance of a cluster when the store has ``SharedLocks``), so:

- each chunk is checked against its id as it arrives (``--verify-chunks arrival``, the default): bytes whose
  MD5 is not the one the chunkId names are refused at once (``422 CHUNK_MISMATCH``, ``data`` the ids still
  needed, so the seed's client sends it again) and nothing of them is kept; so every kept chunk is a verified
  one, and a verified copy is never replaced by, nor dropped for, an unverified one;
- chunks may arrive in any order, in parallel and twice: a chunk already kept is not kept again (the second
  copy is discarded and still counts);
- nothing unverified is published: the assembled file must have the MD5 its fileId says. When it does not
  (damage after arrival, on disk; or, with ``--verify-chunks assembly``, chunks never checked on their own),
  a store that ``RepairsDamage`` finds the damaged chunks: they are dropped and asked for again
  (``422 CHUNKS_DAMAGED``), the good ones kept; otherwise the upload is discarded (``422 FILE_MISMATCH``);
- assembly happens exactly once, however many requests bring the last chunks or how many clients upload the
  same file at once: the first one to find nothing missing assembles, the others then find it published;
- the slow part (receiving a chunk's bytes) happens outside the lock, so parallel chunks do not queue.

With a store that ``AssemblesInPlace`` the service also decides who writes at the end of a file's assembled
part (``TailGate``): the chunk that is next in order, not kept yet, while nobody else writes there, goes
straight to the end of the file (written once); the service's own ``advance`` (run in the background as
chunks arrive, so the last chunk's answer does not wait for a whole-file copy and hash) and ``assemble``
wait for that end to be free.

A chunk request looks its upload up once before its bytes (to refuse a wrong one early and to pick where the
bytes go) and once more under the lock, after them: the upload may have changed while they arrived.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from server.errors import ApiError, E
from server.settings import Settings, VerifyChunks
from server.storage.contract import (
    AssemblesInPlace,
    Buffer,
    FreeSpace,
    LocalFiles,
    RepairsDamage,
    SharedLocks,
    StagedChunk,
    Store,
    StoredFile,
    Sweeps,
    Upload,
    key_file_id,
)
from server.uploads.coordination import (
    Claim,
    Ends,
    KeyedLocks,
    Locks,
    SharedKeyedLocks,
    SharedTailGate,
    TailGate,
)
from server.uploads.protocol import ChunkId, Handshake
from server.uploads.still_needed import COMPLETE, RecentAnswers, StillNeeded

log = logging.getLogger(__name__)


class ChunkBody(Protocol):
    """A chunk's bytes as the handler delivers them: read once, then their MD5 if it was computed."""

    def __aiter__(self) -> AsyncIterator[Buffer]: ...

    async def md5(self) -> str | None:
        """The MD5 (hex) of the bytes read, once they all were; None when they are not hashed."""
        ...


@dataclass(frozen=True)
class Published:
    """A published file: its local path when the store has one (sendfile), else ``read(start, length)``."""

    file: StoredFile
    path: Path | None
    read: Callable[[int, int], AsyncIterator[bytes]]


MAX_CHUNK_LISTS = 16
"""Uploads of one file with different chunk lists kept at once (a new list replaces the least recently used one
that holds no chunk; when all hold some, it is refused)."""


def chunked_key(file_id: str, chunk_ids: tuple[str, ...]) -> str:
    """The key of a chunked upload: its fileId, ``.``, and a digest of its chunk list. Uploads of one file with
    different lists (another chunk size; or a list made up by someone who only knows the file's MD5) are
    different uploads that coexist, and the first one that completes with the right MD5 publishes the file."""
    return f"{file_id}.{hashlib.sha256(','.join(chunk_ids).encode()).hexdigest()[:32]}"


def _listed(upload: Upload, chunk: ChunkId) -> bool:
    """Whether ``chunk`` is in the upload's chunk list, at its index."""
    ids = upload.chunk_ids
    return ids is not None and chunk.index < len(ids) and ids[chunk.index] == str(chunk)


def _missing(upload: Upload) -> int:
    return upload.chunk_count - len(upload.stored)


def _same(a: Upload, b: Upload) -> bool:
    """Whether two looks at an upload saw the same upload (not one replaced by another handshake)."""
    return a.created_at == b.created_at and (a.chunk_ids is b.chunk_ids or a.chunk_ids == b.chunk_ids)


class UploadService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        on_published: Callable[[StoredFile], None] = lambda stored: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.on_published = on_published  # told of each file published (returns at once, never raises)
        self.locks: Locks
        self.tails: Ends
        if isinstance(store, SharedLocks):  # several processes share the store: so do the locks
            self.locks, self.tails = SharedKeyedLocks(store), SharedTailGate(store)
        else:
            self.locks, self.tails = KeyedLocks(), TailGate()
        self._in_place = store if isinstance(store, AssemblesInPlace) else None
        self._answers = RecentAnswers()
        self._advancing: dict[str, asyncio.Task[None]] = {}
        self._advance_again: set[str] = set()
        # Rivals of a published file that a chunk was being written into when it was published: dropped by
        # that chunk's request, which holds their end (``_keep``).
        self._outdone: set[str] = set()

    @property
    def hashes_chunks(self) -> bool:
        """Whether chunk bodies must come with their MD5 (``ChunkBody.md5``)."""
        return self.settings.verify_chunks is VerifyChunks.ARRIVAL

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        """Stop background assembly (what it did so far is kept; what it did not is redone later), then the
        store."""
        tasks = list(self._advancing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.store.close()

    # -- what the other handlers ask ----------------------------------------------------------------------------

    async def published(self, file_id: str, ext: str) -> Published | None:
        """A published file offered under ``ext``, and where its bytes are; None when there is none."""
        stored = await self.store.get_file(file_id)
        if stored is None or await self.store.get_name(file_id, ext) is None:
            return None
        path = self.store.local_path(stored) if isinstance(self.store, LocalFiles) else None
        return Published(stored, path, partial(self.store.read_file, stored))

    async def uploads_in_progress(self) -> int:
        return await self.store.count_uploads()

    async def free_bytes(self) -> int | None:
        """Bytes free where uploads are written; None when the store cannot tell."""
        return await self.store.free_bytes() if isinstance(self.store, FreeSpace) else None

    # -- the handshake ----------------------------------------------------------------------------------------

    async def handshake(self, hs: Handshake, client: str | None = None) -> StoredFile | StillNeeded:
        """The published file if its content is already stored, else the chunk ids still needed, in order.

        A refused handshake (no space, too many uploads) writes nothing: the extension is offered
        (``add_name``) only once the upload is open or the file found."""
        existing = await self.store.get_file(hs.file_id)
        if existing is not None:
            await self.store.add_name(hs.file_id, hs.ext, hs.name)
            return existing
        await self.check_space(0)
        async with self.locks.hold(hs.file_id):
            existing = await self.store.get_file(hs.file_id)
            if existing is not None:  # published while we waited for the lock
                await self.store.add_name(hs.file_id, hs.ext, hs.name)
                return existing
            upload = await self._open_upload(hs, client)
            await self.store.add_name(hs.file_id, hs.ext, hs.name)
            needed = self._needed(upload)
        if needed:
            return needed
        # Everything is stored (an empty file, or a crash before assembly): finish it now.
        return await self._assemble_when_free(upload.key)

    async def _open_upload(self, hs: Handshake, client: str | None) -> Upload:
        """Under the file's lock: the upload with this chunk list, created if there is none."""
        now = self.clock()
        uploads = await self.store.find_uploads(hs.file_id)
        for upload in uploads:
            if upload.chunk_ids == hs.chunk_ids:  # also one keyed by the bare fileId (before lists coexisted)
                await self.store.touch_upload(upload.key, now)
                return upload
        if len(uploads) >= MAX_CHUNK_LISTS:
            await self._make_room_for_a_list(hs.file_id, uploads)
        # A slot is taken once bytes arrive: handshakes alone (anyone who knows an MD5 can send them) cannot
        # fill the server; the empty uploads they leave expire after --empty-upload-ttl-seconds.
        limit = self.settings.max_uploads_in_progress
        if await self.store.count_uploads(holding_bytes=True) >= limit:
            raise ApiError(
                E.TOO_MANY_UPLOADS,
                f"{limit} uploads holding data are in progress, the most this server keeps; try again later",
            )
        if client is not None:
            await self.check_client_uploads(client)
        key = chunked_key(hs.file_id, hs.chunk_ids)
        return await self.store.create_upload(key, hs.chunk_ids, hs.size, now, owner=client)

    async def _make_room_for_a_list(self, file_id: str, uploads: list[Upload]) -> None:
        """``MAX_CHUNK_LISTS`` uploads of this file are open: forget the least recently used one holding no
        chunk, or refuse when each holds some."""
        empty = [upload for upload in uploads if not upload.stored]
        if not empty:
            raise ApiError(
                E.CHUNK_LIST_CONFLICT,
                f"{len(uploads)} uploads of this file with other chunk lists are in progress, the most kept at "
                "once; use the chunk size of one of them, or wait until one finishes or expires",
            )
        oldest = min(empty, key=lambda upload: upload.updated_at)
        await self.store.delete_upload(oldest.key)
        log.info("forgot the empty upload %s of %s to open one with another chunk list", oldest.key, file_id)

    async def check_client_uploads(self, client: str) -> None:
        """Refuse a new upload of a client that has ``--max-uploads-per-client`` unfinished (counted by the
        store, so across restarts and instances)."""
        limit = self.settings.max_uploads_per_client
        if limit and await self.store.count_uploads(owner=client) >= limit:
            raise ApiError(
                E.TOO_MANY_UPLOADS,
                f"{client} has {limit} unfinished uploads, the most one client may have; finish some first",
            )

    def _needed(self, upload: Upload, added: int | None = None) -> StillNeeded:
        """What the upload still needs (``added``: the one chunk kept since its last answer, if known)."""
        return self._answers.of(upload, added)

    # -- chunks -----------------------------------------------------------------------------------------------

    async def receive_chunk(self, file_id: str, chunk: ChunkId, body: ChunkBody) -> StillNeeded:
        """Take one chunk (reading its body); assemble (and verify) when it was the last one. Returns what is
        still needed. A chunk of an upload already published is not read (a late duplicate: harmless)."""
        upload = await self._upload_for_chunk(file_id, chunk)
        if upload is None:
            return COMPLETE
        await self.check_space(0)
        token = await self._claim_tail(upload, chunk.index)
        try:
            staged = await self._write(upload, chunk, body, in_place=token is not None)
            try:
                await self._check_bytes(upload, chunk, await body.md5())
                await self.check_space(staged.size)
            except BaseException:
                await self.store.discard_chunk(staged)
                raise
            async with self.locks.hold(file_id):
                needed = await self._keep(upload, chunk, staged)
        finally:
            if token is not None:
                await self.tails.release(upload.key, token)
        if needed is None:
            return COMPLETE  # the file is published
        if needed:
            self.advance_later(upload.key)
            return needed
        finished = await self._assemble_when_free(upload.key)
        return COMPLETE if isinstance(finished, StoredFile) else finished

    async def _claim_tail(self, upload: Upload, index: int) -> Claim | None:
        """Whether this chunk goes straight to the end of its file's assembled part: it is the next one there,
        not kept yet, and nobody writes there now (then the returned token says so until it is released)."""
        if self._in_place is None or index in upload.stored or self._in_place.tail(upload) != index:
            return None
        return await self.tails.try_claim(upload.key)

    async def _write(self, upload: Upload, chunk: ChunkId, body: ChunkBody, in_place: bool) -> StagedChunk:
        if in_place:
            assert self._in_place is not None
            return await self._in_place.write_chunk_in_place(upload, chunk.index, body)
        return await self.store.write_chunk(upload, chunk.index, body)

    async def _keep(self, seen: Upload, chunk: ChunkId, staged: StagedChunk) -> StillNeeded | None:
        """Under the file's lock: keep the staged chunk unless it is not wanted (any more); the ids needed, or
        None when the file is published."""
        file_id = key_file_id(seen.key)
        if seen.key in self._outdone:  # a rival upload published the file while this chunk was written
            self._outdone.discard(seen.key)
            await self.store.discard_chunk(staged)
            await self.store.delete_upload(seen.key)
            return None
        upload = await self.store.get_upload(seen.key)
        if upload is None or not _same(upload, seen):
            await self.store.discard_chunk(staged)
            if upload is None:
                if await self.store.get_file(file_id) is not None:
                    return None  # published meanwhile: this copy is not needed
                raise ApiError(E.UNKNOWN_UPLOAD, f"the upload of {file_id} ended while this chunk arrived")
            return self._needed(upload)  # it expired and a handshake opened it again: send it again
        if chunk.index in upload.stored:
            await self.store.discard_chunk(staged)  # another copy was kept meanwhile: this one still counts
        else:
            try:
                self._check_size(upload, chunk.index, staged.size)
            except ApiError:
                await self.store.discard_chunk(staged)
                raise
            upload = await self.store.keep_chunk(staged)
        now = self.clock()
        # Expiry counts in hours by default: one write a second (at most) per upload is plenty.
        if now - upload.updated_at >= min(1.0, self.settings.upload_ttl_seconds / 10):
            await self.store.touch_upload(upload.key, now)
        return self._needed(upload, added=chunk.index)

    async def _check_bytes(self, upload: Upload, chunk: ChunkId, md5: str | None) -> None:
        """Refuse a chunk whose bytes do not have the MD5 its id names (before it is kept, so it stays needed
        and the next copy is taken)."""
        if not self.hashes_chunks or md5 == chunk.md5:
            return
        if md5 is None:
            raise RuntimeError("chunks are checked as they arrive, but this one's MD5 was not computed")
        log.info("refused chunk %d of %s: its MD5 is %s, not %s", chunk.index, upload.key, md5, chunk.md5)
        raise ApiError(
            E.CHUNK_MISMATCH,
            f"chunk {chunk.index} does not match its chunkId: its bytes have MD5 {md5}, the chunkId says "
            f"{chunk.md5}; it was not stored, send it again",
            self._needed(upload).ids(),  # what the seed's client sends next: this chunk among them
        )

    async def check_space(self, incoming: int) -> None:
        """507 when storing ``incoming`` more bytes would leave less free than ``--min-free-bytes``."""
        if not isinstance(self.store, FreeSpace):
            return
        free = await self.store.free_bytes()
        margin = self.settings.min_free_bytes
        if free - incoming < margin:
            raise ApiError(
                E.INSUFFICIENT_STORAGE,
                f"the server's disk is full: {free} bytes free, and it keeps at least {margin} free; nothing "
                "was stored, try again once space is freed (what was stored before is kept)",
            )

    async def _upload_for_chunk(self, file_id: str, chunk: ChunkId) -> Upload | None:
        """The upload this chunk is for: of the file's uploads whose chunk list has it at its index, one that
        still needs it, the one with fewest chunks missing (the nearest to completion). None: the file is published."""
        uploads = await self.store.find_uploads(file_id)
        listing = [upload for upload in uploads if _listed(upload, chunk)]
        if listing:
            return max(listing, key=lambda upload: (chunk.index not in upload.stored, -_missing(upload)))
        if not uploads:
            if await self.store.get_file(file_id) is not None:
                return None
            raise ApiError(
                E.UNKNOWN_UPLOAD, f"no upload in progress for fileId {file_id}: send the handshake first"
            )
        raise ApiError(E.UNKNOWN_CHUNK, f"chunkId {chunk} is not in the chunk list of file {file_id}")

    def _check_size(self, upload: Upload, index: int, size: int) -> None:
        total = size + self._answers.stored_bytes(upload) - upload.stored.get(index, 0)  # O(1) mostly
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

    # -- assembly ---------------------------------------------------------------------------------------------

    def advance_later(self, key: str) -> None:
        """Run ``advance`` for this upload in the background; one runner per upload, re-run if asked."""
        if self._in_place is None:
            return
        if key in self._advancing:
            self._advance_again.add(key)
            return
        self._advancing[key] = asyncio.create_task(self._advance(key), name=f"advance-{key}")

    async def _advance(self, key: str) -> None:
        assert self._in_place is not None
        try:
            while True:
                self._advance_again.discard(key)
                async with self.locks.hold(key_file_id(key)):
                    upload = await self.store.get_upload(key)
                    token = await self.tails.try_claim(key, assembly=True) if upload is not None else None
                    if upload is not None and token is not None:  # else the chunk written there asks again
                        try:
                            await self._in_place.advance(upload)
                        finally:
                            await self.tails.release(key, token)
                if key not in self._advance_again:
                    return
        except Exception as exc:  # the final assembly does the work again and reports any error to the client
            if ApiError.from_server_condition(exc) is not None:
                log.warning("background assembly of %s stopped: %s", key, exc)
            else:
                log.exception("background assembly of %s failed", key)
        finally:
            del self._advancing[key]

    async def _assemble_when_free(self, key: str) -> StoredFile | StillNeeded:
        """Assemble, verify and publish the upload once nobody writes at its end: the published file (also when
        another request, or a rival upload, published it meanwhile), or the ids needed again (another request
        found damage)."""
        file_id = key_file_id(key)
        while True:
            await self.tails.wait_free(key)
            async with self.locks.hold(file_id):
                token = await self.tails.try_claim(key)
                if token is None:
                    continue  # a chunk started writing there meanwhile: wait for it
                try:
                    upload = await self.store.get_upload(key)
                    if upload is None:
                        published = await self.store.get_file(file_id)
                        if published is None:
                            raise ApiError(
                                E.UNKNOWN_UPLOAD, f"the upload of {file_id} was discarded meanwhile"
                            )
                        return published
                    return self._needed(upload) or await self._assemble(upload)
                finally:
                    await self.tails.release(key, token)

    async def _assemble(self, upload: Upload) -> StoredFile:
        """Called under the file's lock with every chunk kept: verify the whole file, then publish it."""
        started = time.monotonic()
        file_id = key_file_id(upload.key)
        assembly = await self.store.assemble(upload)
        problem = None
        if assembly.md5 != file_id:
            problem = f"the assembled file has MD5 {assembly.md5}, not the fileId {file_id}"
            if isinstance(self.store, RepairsDamage):
                damaged = await self.store.damaged_chunks(upload, assembly)
                if damaged:  # the chunks were damaged on the way (or lied about): only they are needed again
                    await self.store.drop_chunks(upload, damaged)
                    self._answers.forget(upload)
                    shown = ", ".join(str(index) for index in damaged[:10]) + (
                        ", ..." if len(damaged) > 10 else ""
                    )
                    raise ApiError(
                        E.CHUNKS_DAMAGED,
                        f"{problem}: {len(damaged)} chunk(s) do not match their chunkId (index {shown}); they "
                        "were dropped and the others kept: handshake again and send what it lists",
                        [upload.chunk_ids[index] for index in damaged],
                    )
        elif upload.size is not None and assembly.size != upload.size:
            problem = (
                f"the assembled file has {assembly.size} bytes, not the {upload.size} the handshake declared"
            )
        if problem is not None:
            await self.store.discard_assembly(assembly)
            await self.store.delete_upload(upload.key)
            raise ApiError(E.FILE_MISMATCH, f"{problem}; the upload was discarded, start it again")
        stored = await self.store.publish(assembly)
        self.on_published(stored)
        await self._drop_rivals(file_id)
        log.info(
            "assembled %s: %d bytes from %d chunks in %.2fs",
            file_id,
            stored.size,
            len(upload.chunk_ids),
            time.monotonic() - started,
        )
        return stored

    async def _drop_rivals(self, file_id: str) -> None:
        """Under the file's lock, once it is published: forget its other uploads (other chunk lists). One that a
        chunk is being written at the end of is left to that chunk's request (``_keep``), which holds it."""
        for rival in await self.store.find_uploads(file_id):
            if self.tails.held(rival.key):
                self._outdone.add(rival.key)
            else:
                await self.store.delete_upload(rival.key)

    # -- expiry -----------------------------------------------------------------------------------------------

    async def sweep(self) -> list[str]:
        """Forget uploads untouched for longer than the TTL (an upload no chunk of which arrived: longer than
        the empty-upload TTL) and reclaim their space."""
        now = self.clock()
        deadline = now - self.settings.upload_ttl_seconds
        empty_deadline = now - self.settings.empty_upload_ttl_seconds
        expired = []
        for key in await self.store.uploads_untouched_since(max(deadline, empty_deadline)):
            async with self.locks.hold(key_file_id(key)):
                upload = await self.store.get_upload(key)
                if upload is None:
                    continue
                empty = not upload.stored and upload.published is None
                if upload.updated_at < deadline or (empty and upload.updated_at < empty_deadline):
                    await self.store.delete_upload(key)
                    self._outdone.discard(key)
                    expired.append(key)
        if expired:
            log.info("expired %d abandoned upload(s)", len(expired))
        if isinstance(self.store, Sweeps):
            await self.store.sweep()
        return expired
