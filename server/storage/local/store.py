"""``LocalStorage``: the storage contract over ``catalogue`` (SQLite), ``chunk_files`` and ``prefix``.

It implements the core and every optional ability (``AssemblesInPlace``, ``RepairsDamage``, ``LocalFiles``,
``FreeSpace``). Where a kept chunk's bytes go is its own business: one that continues the partial file is
appended there at once (on the loop up to ``INLINE_APPEND_BYTES``; measured, a worker thread per 1 MiB chunk
cost more in hand-offs than it saved), any other becomes a chunk file that ``advance`` appends once the
chunks before it are there. File copies, hashing and fsync run in threads; SQLite on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from server.settings import Fsync
from server.storage.contract import Assembly, Buffer, FileName, StagedChunk, StoredFile, Upload, key_file_id
from server.storage.local import prefix as files
from server.storage.local.catalogue import Catalogue
from server.storage.local.chunk_files import MemoryBudget, StagedBytes, copy_out
from server.storage.local.prefix import Prefix, TailWrite

log = logging.getLogger(__name__)

PREFIX_SYNC_BYTES = 64 * 1024 * 1024
INLINE_APPEND_BYTES = 2 * 1024 * 1024  # larger chunks held in memory are appended in a worker thread


class LocalStorage:
    def __init__(self, data_dir: Path, *, fsync: Fsync = Fsync.FILES) -> None:
        self.root = data_dir
        self.tmp = data_dir / "tmp"
        self.chunks = data_dir / "chunks"
        self.partial = data_dir / "partial"
        self.files = data_dir / "files"
        self.fsync = fsync
        self.catalogue = Catalogue(data_dir / "meta.sqlite3")
        self._prefixes: dict[str, Prefix] = {}
        self._staged: dict[str, StagedBytes | TailWrite] = {}
        self._budget = MemoryBudget()
        self._syncs: set[asyncio.Task[None]] = set()  # background fsyncs of assembled prefixes

    # -- life cycle -------------------------------------------------------------------------------------------

    async def open(self) -> None:
        for folder in (self.root, self.chunks, self.partial, self.files):
            folder.mkdir(parents=True, exist_ok=True)
        # Whatever is in tmp/ was being written when the process stopped: never complete, never visible.
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self.catalogue.open()
        await asyncio.to_thread(self._remove_orphans)

    def _remove_orphans(self) -> None:
        """Reclaim what a crash between a file operation and its database row left behind."""
        uploads, published = self.catalogue.upload_ids(), self.catalogue.file_ids()
        for folder in self.chunks.iterdir():
            if folder.name not in uploads:
                shutil.rmtree(folder, ignore_errors=True)
        for path in self.files.iterdir():
            if path.name in published:
                continue
            publishing = self._publishing(path, uploads)
            if publishing is not None:
                # Died between the rename into files/ and the row that publishes it: the assembled file goes
                # back to partial/, where the next assembly of its upload expects it.
                os.replace(path, self.partial / publishing)
            else:
                path.unlink(missing_ok=True)
        for path in self.partial.iterdir():
            if path.name not in uploads:
                path.unlink(missing_ok=True)
        on_disk = {path.name for path in self.files.iterdir()}
        missing = sorted(published - on_disk)
        if missing:
            self._forget_missing(missing)

    def _publishing(self, path: Path, uploads: set[str]) -> str | None:
        """The upload whose assembled file ``path`` (in files/, not published) is: an upload of that file id
        (a stream upload: of that size) whose partial file is missing and whose prefix is all its chunks."""
        size = path.stat().st_size
        for key in sorted(uploads):
            if (self.partial / key).exists():
                continue
            upload = self.catalogue.upload(key)
            if upload is None or upload.published is not None:
                continue
            ours = key_file_id(key) == path.name if upload.chunk_ids is not None else upload.size == size
            chunks, length = self.catalogue.prefix(key)
            if ours and chunks == upload.chunk_count and length == size:
                return key
        return None

    async def close(self) -> None:
        for task in list(self._syncs):
            task.cancel()
        await asyncio.gather(*self._syncs, return_exceptions=True)
        for staged in list(self._staged.values()):
            if isinstance(staged, TailWrite):
                staged.close(cut=False)  # past the recorded prefix: cut off by the next append
            else:
                await staged.discard()
        self._staged.clear()
        self.catalogue.close()

    # -- published files and names ----------------------------------------------------------------------------

    async def get_file(self, file_id: str) -> StoredFile | None:
        stored = self.catalogue.file(file_id)
        if stored is not None and not (self.files / file_id).exists():
            self._forget_missing([file_id])  # removed by hand: forget it, so that it can be uploaded again
            return None
        return stored

    def _forget_missing(self, file_ids: list[str]) -> None:
        self.catalogue.forget_files(file_ids)
        log.warning(
            "%d published file(s) are missing from %s and were forgotten: %s",
            len(file_ids),
            self.files,
            ", ".join(file_ids[:10]) + (", ..." if len(file_ids) > 10 else ""),
        )

    def local_path(self, file: StoredFile) -> Path:
        return self.files / file.file_id

    async def read_file(self, file: StoredFile, start: int, length: int) -> AsyncIterator[bytes]:
        async for data in self._read(self.local_path(file), start, length):
            yield data

    async def get_name(self, file_id: str, ext: str) -> FileName | None:
        return self.catalogue.name(file_id, ext)

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        self.catalogue.add_name(file_id, ext, name)

    async def free_bytes(self) -> int:
        stat = os.statvfs(self.root)  # one system call, on the loop
        return stat.f_bavail * stat.f_frsize  # what an unprivileged writer may still use

    # -- uploads in progress ----------------------------------------------------------------------------------

    async def get_upload(self, key: str) -> Upload | None:
        return self.catalogue.upload(key)

    async def create_upload(
        self,
        key: str,
        chunk_ids: tuple[str, ...] | None,
        size: int | None,
        now: float,
        info: str | None = None,
        owner: str | None = None,
    ) -> Upload:
        upload = self.catalogue.create_upload(key, chunk_ids, size, now, info, owner)
        # A new prefix object: a background fsync or a write of the old one finds it replaced.
        self._prefixes[key] = Prefix(0, 0, 0, 0, hashlib.md5())
        (self.partial / key).unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, self.chunks / key, True)
        (self.chunks / key).mkdir(exist_ok=True)
        return upload

    async def touch_upload(self, key: str, now: float, size: int | None = None) -> None:
        self.catalogue.touch(key, now, size)

    async def find_uploads(self, file_id: str) -> list[Upload]:
        found = (self.catalogue.upload(key) for key in self.catalogue.upload_keys_of(file_id))
        return [upload for upload in found if upload is not None]

    async def count_uploads(self, holding_bytes: bool = False, owner: str | None = None) -> int:
        return self.catalogue.count_uploads(holding_bytes, owner)

    async def uploads_untouched_since(self, when: float) -> list[str]:
        return self.catalogue.untouched_since(when)

    async def delete_upload(self, key: str) -> None:
        self.catalogue.delete_upload(key)
        self._prefixes.pop(key, None)
        (self.partial / key).unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, self.chunks / key, True)

    # -- chunks -----------------------------------------------------------------------------------------------

    async def write_chunk(self, upload: Upload, index: int, reader: AsyncIterable[Buffer]) -> StagedChunk:
        staged = StagedBytes(self._budget, self.tmp, to_disk=self.fsync is Fsync.ALL)
        try:
            async for piece in reader:
                staged.write(piece)
            await staged.seal(fsync=self.fsync is Fsync.ALL)
        except BaseException:
            await staged.discard()
            raise
        return self._stage(upload.key, index, staged.size, staged)

    def _stage(self, upload: str, index: int, size: int, staged: StagedBytes | TailWrite) -> StagedChunk:
        key = uuid.uuid4().hex
        self._staged[key] = staged
        return StagedChunk(upload, index, size, key)

    def tail(self, upload: Upload) -> int | None:
        prefix = self._prefixes.get(upload.key)
        return prefix.chunks if prefix is not None and prefix.free() else None

    async def write_chunk_in_place(
        self, upload: Upload, index: int, reader: AsyncIterable[Buffer]
    ) -> StagedChunk:
        prefix = self._prefixes[upload.key]
        if not prefix.free() or prefix.chunks != index:
            raise RuntimeError(f"chunk {index} of {upload.key} cannot be written at the end of its file now")
        write = TailWrite(prefix, self.partial / upload.key)
        try:
            async for piece in reader:
                write.write(piece)
            if self.fsync is Fsync.ALL:
                assert write.fd is not None
                await asyncio.to_thread(os.fsync, write.fd)
        except BaseException:
            write.close(cut=True)
            raise
        return self._stage(upload.key, index, write.size, write)

    async def discard_chunk(self, staged: StagedChunk) -> None:
        held = self._staged.pop(staged.key, None)
        if isinstance(held, TailWrite):
            held.close(cut=True)
        elif held is not None:
            await held.discard()

    async def keep_chunk(self, staged: StagedChunk) -> Upload:
        held = self._staged.pop(staged.key)
        key, index = staged.upload, staged.index
        upload = self.catalogue.upload(key)
        if upload is None:
            raise RuntimeError(f"keep_chunk: no upload {key}")
        prefix = self._prefixes.get(key)
        if isinstance(held, TailWrite):
            if held.prefix is not prefix or index != held.prefix.chunks:
                held.close(cut=True)
                raise RuntimeError(f"keep_chunk: chunk {index} of {key} was written for a replaced upload")
            try:
                self.catalogue.record_chunk(key, index, staged.size, (index + 1, held.end))
            except BaseException:
                held.close(cut=True)  # not kept: its bytes are cut off and the end is free again
                raise
            held.prefix.digest, held.prefix.chunks, held.prefix.size = held.digest, index + 1, held.end
            held.close(cut=False)
            if self.fsync is Fsync.ALL:  # fsynced before it was staged
                prefix_now = held.prefix
                prefix_now.durable_chunks, prefix_now.durable_size = prefix_now.chunks, prefix_now.size
            return upload
        try:
            if prefix is not None and prefix.free() and prefix.chunks == index and held.pieces is not None:
                await self._append_now(key, index, prefix, held.pieces)
            else:
                await held.keep_as(self.chunks / key / str(index))
                self.catalogue.record_chunk(key, index, staged.size)
        finally:
            await held.discard()
        return upload

    async def _append_now(self, key: str, index: int, prefix: Prefix, pieces: list[Buffer]) -> None:
        """A kept chunk that continues the partial file goes there at once: written once, no chunk file."""
        target = self.partial / key
        if sum(len(piece) for piece in pieces) <= INLINE_APPEND_BYTES:
            end, digest = files.append_pieces(target, prefix, pieces)
        else:
            prefix.busy = True
            try:
                end, digest = await asyncio.to_thread(files.append_pieces, target, prefix, pieces)
            finally:
                prefix.busy = False
        self.catalogue.record_chunk(key, index, end - prefix.size, (index + 1, end))
        prefix.size, prefix.digest, prefix.chunks = end, digest, index + 1

    async def read_upload(self, upload: Upload) -> AsyncIterator[bytes]:
        await self.advance(upload)  # every kept chunk into the partial file, then read it
        prefix = await self._prefix(upload)
        if prefix.chunks != upload.chunk_count:
            raise RuntimeError(f"read_upload({upload.key}): chunks are missing")
        async for data in self._read(self.partial / upload.key, 0, prefix.size):
            yield data

    async def _read(self, path: Path, start: int, length: int) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, path, "rb")
        with handle:
            handle.seek(start)
            while length > 0:
                data = await asyncio.to_thread(handle.read, min(length, files.COPY_BUFFER))
                if not data:
                    break
                length -= len(data)
                yield data

    # -- assembly ---------------------------------------------------------------------------------------------

    async def advance(self, upload: Upload) -> None:
        key = upload.key
        prefix = await self._prefix(upload)
        if prefix.writing is not None:
            raise RuntimeError(f"advance({key}) while a chunk is written at its end")
        total = upload.chunk_count
        while prefix.chunks < total and prefix.chunks in upload.stored:
            source = self.chunks / key / str(prefix.chunks)
            prefix.busy = True
            try:
                prefix.size, prefix.digest = await asyncio.to_thread(
                    files.append_file, self.partial / key, prefix, source
                )
            finally:
                prefix.busy = False
            prefix.spilled.append(prefix.chunks)
            prefix.chunks += 1
            if self.fsync is Fsync.NONE:  # no fsync: record the prefix and drop its chunk files at once
                await self._make_durable(key, prefix)
        if prefix.chunks == total and prefix.durable_chunks != total:
            await self._make_durable(key, prefix)  # complete: durable before it is published
        elif prefix.size - prefix.durable_size >= PREFIX_SYNC_BYTES:
            self._sync_later(key, prefix)  # including the chunks written straight into the file

    async def _prefix(self, upload: Upload) -> Prefix:
        prefix = self._prefixes.get(upload.key)
        if prefix is None:
            chunks, size = self.catalogue.prefix(upload.key)
            prefix = self._prefixes[upload.key] = Prefix(chunks, size, chunks, size)
        if prefix.digest is None:
            # After a restart the running MD5 is gone: hash the durable prefix once, from the partial file.
            prefix.busy = True
            try:
                prefix.digest = await asyncio.to_thread(
                    files.hash_prefix, self.partial / upload.key, prefix.size
                )
            finally:
                prefix.busy = False
        return prefix

    async def _make_durable(self, key: str, prefix: Prefix) -> None:
        """fsync the prefix, record its length, then let go of the chunk files it now holds.

        Safe beside new appends (it makes durable what was appended when it started), so the periodic one runs
        in the background, without the file's lock (``_sync_later``); before publishing, it is awaited.
        """
        chunks, size = prefix.chunks, prefix.size
        spilled, prefix.spilled = prefix.spilled, []
        if self.fsync is not Fsync.NONE:
            try:
                await asyncio.to_thread(files.fsync_path, self.partial / key)
            except FileNotFoundError:
                return  # published or dropped meanwhile: nothing left to make durable
        if self._prefixes.get(key) is not prefix:
            return  # the upload was replaced or forgotten meanwhile
        self.catalogue.advance_prefix(key, chunks, size)
        if chunks > prefix.durable_chunks:
            prefix.durable_chunks, prefix.durable_size = chunks, size
        done = [self.chunks / key / str(i) for i in spilled]
        if done:
            await asyncio.to_thread(lambda: [path.unlink(missing_ok=True) for path in done])

    def _sync_later(self, key: str, prefix: Prefix) -> None:
        """``_make_durable`` in the background (one at a time per file): chunk answers do not wait for it."""
        if prefix.syncing:
            return
        prefix.syncing = True

        async def sync() -> None:
            try:
                await self._make_durable(key, prefix)
            except OSError as exc:  # the final, awaited one reports to the client
                log.warning("making the assembled prefix of %s durable failed: %s", key, exc)
            except Exception:
                log.exception("making the assembled prefix of %s durable failed", key)
            finally:
                prefix.syncing = False

        task = asyncio.create_task(sync(), name=f"sync-{key}")
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    async def assemble(self, upload: Upload) -> Assembly:
        await self.advance(upload)
        prefix = await self._prefix(upload)
        if prefix.chunks != upload.chunk_count:
            raise RuntimeError(f"assemble({upload.key}) called with chunks missing")
        target = self.partial / upload.key
        if not target.exists():  # a file of zero chunks
            target.touch()
        os.truncate(target, prefix.size)  # nothing beyond the verified prefix is published
        assert prefix.digest is not None
        return Assembly(upload.key, prefix.digest.hexdigest(), prefix.size)

    async def publish(self, assembly: Assembly) -> StoredFile:
        key, file_id = assembly.upload, assembly.md5
        existing = await self.get_file(file_id)
        if existing is not None:  # the same bytes were published before: keep those
            self.catalogue.publish(key, file_id, assembly.size, None)
            (self.partial / key).unlink(missing_ok=True)
        else:
            final = self.files / file_id
            os.replace(self.partial / key, final)
            if self.fsync is not Fsync.NONE:
                await asyncio.to_thread(files.fsync_path, self.files)
            created = os.stat(final).st_mtime
            self.catalogue.publish(key, file_id, assembly.size, created)
            existing = StoredFile(file_id, assembly.size, created)
        self._prefixes.pop(key, None)
        await asyncio.to_thread(shutil.rmtree, self.chunks / key, True)
        return existing

    async def discard_assembly(self, assembly: Assembly) -> None:
        (self.partial / assembly.upload).unlink(missing_ok=True)
        self._prefixes.pop(assembly.upload, None)

    # -- repair -----------------------------------------------------------------------------------------------

    async def damaged_chunks(self, upload: Upload, assembly: Assembly) -> list[int]:
        sizes = upload.stored
        regions = [(sizes[index], chunk_id[:32]) for index, chunk_id in enumerate(upload.chunk_ids)]
        return await asyncio.to_thread(files.damaged_regions, self.partial / upload.key, regions)

    async def drop_chunks(self, upload: Upload, indexes: list[int]) -> None:
        """Forget damaged chunks of an assembled upload, keeping the others.

        The partial file is cut back to the first damaged chunk; the good chunks after it are copied out to
        their chunk files first (and appended again by ``advance`` once the gap is filled). Crash-safe in
        that order: chunk files, then the rows and the prefix's length in one transaction, then the cut (which
        ``open_tail`` would redo anyway). A crash before the transaction leaves the assembled upload as it
        was, so the next assembly finds the same damage.
        """
        key = upload.key
        if not indexes:
            return
        sizes = dict(upload.stored)
        first, drop = min(indexes), set(indexes)
        start = sum(sizes[index] for index in range(first))
        copies, offset = [], start
        for index in range(first, len(upload.chunk_ids)):
            if index not in drop:
                copies.append((index, offset, sizes[index]))
            offset += sizes[index]
        target = self.partial / key
        await asyncio.to_thread(copy_out, target, self.chunks / key, copies, self.fsync is Fsync.ALL)
        self.catalogue.drop_chunks(key, sorted(drop), (first, start))
        # A new prefix object: a background fsync of the old one finds it replaced and records nothing.
        self._prefixes[key] = Prefix(first, start, first, start)
        os.truncate(target, start)
        await self._prefix(upload)  # hash what is left, so the next chunk can be written in place again
