"""A plain in-memory backend that implements the core storage contract and nothing more.

The service's guarantees (one assembly, duplicates, races, verification) are tested over it: that proves the
core contract is enough without the local backend's optimisations (assembly in place, repair, sendfile).
``pause_writes`` lets a test hold ``write_chunk`` mid-chunk, to line up races deterministically.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from server.storage.contract import Assembly, Buffer, FileName, StagedChunk, StoredFile, Upload, key_file_id


@dataclass
class _Entry:
    upload: Upload
    chunks: dict[int, bytes] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)


class MemoryStore:
    def __init__(self) -> None:
        self.files: dict[str, tuple[StoredFile, bytes]] = {}
        self.names: dict[tuple[str, str], str | None] = {}
        self.uploads: dict[str, _Entry] = {}
        self.staged: dict[str, bytes] = {}
        self.assemblies: dict[str, bytes] = {}
        self.assembled = 0  # how many times ``assemble`` ran
        self.pause_writes: asyncio.Event | None = None  # set: writes go on; cleared: each waits mid-chunk
        self._keys = itertools.count()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def get_file(self, file_id: str) -> StoredFile | None:
        found = self.files.get(file_id)
        return None if found is None else found[0]

    async def read_file(self, file: StoredFile, start: int, length: int) -> AsyncIterator[bytes]:
        yield self.files[file.file_id][1][start : start + length]

    async def get_name(self, file_id: str, ext: str) -> FileName | None:
        if (file_id, ext) not in self.names:
            return None
        return FileName(file_id, ext, self.names[file_id, ext])

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        if self.names.get((file_id, ext)) is None:
            self.names[file_id, ext] = name

    async def get_upload(self, key: str) -> Upload | None:
        entry = self.uploads.get(key)
        return None if entry is None else entry.upload

    async def create_upload(
        self,
        key: str,
        chunk_ids: tuple[str, ...] | None,
        size: int | None,
        now: float,
        info: str | None = None,
        owner: str | None = None,
    ) -> Upload:
        entry = _Entry(Upload(key, chunk_ids, size, now, now, {}, info, None, owner))
        entry.upload = replace(entry.upload, stored=MappingProxyType(entry.sizes))
        self.uploads[key] = entry
        return entry.upload

    async def touch_upload(self, key: str, now: float, size: int | None = None) -> None:
        entry = self.uploads.get(key)
        if entry is not None:
            entry.upload = replace(
                entry.upload, updated_at=now, size=entry.upload.size if size is None else size
            )

    async def find_uploads(self, file_id: str) -> list[Upload]:
        return [entry.upload for key, entry in self.uploads.items() if key_file_id(key) == file_id]

    async def count_uploads(self, holding_bytes: bool = False, owner: str | None = None) -> int:
        return sum(
            1
            for entry in self.uploads.values()
            if entry.upload.published is None
            and (entry.chunks or not holding_bytes)
            and (owner is None or entry.upload.owner == owner)
        )

    async def uploads_untouched_since(self, when: float) -> list[str]:
        return [key for key, entry in self.uploads.items() if entry.upload.updated_at < when]

    async def delete_upload(self, key: str) -> None:
        self.uploads.pop(key, None)
        file_id = key_file_id(key)
        if file_id not in self.files and not await self.find_uploads(file_id):
            for name in [name for name in self.names if name[0] == file_id]:
                del self.names[name]

    async def write_chunk(self, upload: Upload, index: int, reader: AsyncIterable[Buffer]) -> StagedChunk:
        data = bytearray()
        async for piece in reader:
            data += piece
            if self.pause_writes is not None:
                await self.pause_writes.wait()
        key = str(next(self._keys))
        self.staged[key] = bytes(data)
        return StagedChunk(upload.key, index, len(data), key)

    async def keep_chunk(self, staged: StagedChunk) -> Upload:
        data = self.staged.pop(staged.key)
        entry = self.uploads[staged.upload]
        entry.chunks[staged.index] = data
        entry.sizes[staged.index] = len(data)
        return entry.upload

    async def discard_chunk(self, staged: StagedChunk) -> None:
        self.staged.pop(staged.key, None)

    async def read_upload(self, upload: Upload) -> AsyncIterator[bytes]:
        entry = self.uploads[upload.key]
        for index in range(upload.chunk_count):
            yield entry.chunks[index]

    async def assemble(self, upload: Upload) -> Assembly:
        entry = self.uploads[upload.key]
        data = b"".join(entry.chunks[index] for index in range(upload.chunk_count))
        self.assemblies[upload.key] = data
        self.assembled += 1
        return Assembly(upload.key, hashlib.md5(data).hexdigest(), len(data))

    async def publish(self, assembly: Assembly) -> StoredFile:
        data = self.assemblies.pop(assembly.upload)
        if assembly.md5 not in self.files:
            self.files[assembly.md5] = (StoredFile(assembly.md5, len(data), 0.0), data)
        entry = self.uploads[assembly.upload]
        if entry.upload.chunk_ids is None:  # a stream upload stays, published
            entry.chunks.clear()
            entry.upload = replace(entry.upload, published=assembly.md5, stored={})
        else:
            del self.uploads[assembly.upload]
        return self.files[assembly.md5][0]

    async def discard_assembly(self, assembly: Assembly) -> None:
        self.assemblies.pop(assembly.upload, None)
