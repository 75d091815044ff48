"""The storage contract: what the upload service needs from a backend, and nothing about HTTP.

A backend keeps three things: published files (immutable, addressed by their MD5), the names (extension and
original name) under which each file is offered, and uploads in progress with the chunks stored so far.
It only does I/O; every decision (what is valid, what is still needed, when to assemble) is the service's.
The embedded default is ``server.storage.local.LocalStorage`` (local disk + SQLite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredFile:
    """A published, verified file. ``path`` is set when the backend keeps it on a local disk (sendfile)."""

    file_id: str
    size: int
    created_at: float
    path: Path | None


@dataclass(frozen=True)
class FileName:
    """One way a published file is offered: ``/upload/<file_id><ext>``, downloaded as ``name``."""

    file_id: str
    ext: str
    name: str | None


@dataclass(frozen=True)
class UploadRecord:
    file_id: str
    chunk_ids: tuple[str, ...]
    size: int | None  # declared by the client, if it did
    created_at: float
    updated_at: float


class ChunkSpool(Protocol):
    """A temporary home for the bytes of one incoming chunk, before anyone knows whether they are good."""

    def write(self, data: bytes | memoryview) -> None:
        """Append bytes (a network read's worth: small, quick). Never called twice at once for one spool.

        Read-only data (``bytes``, a read-only ``memoryview``) may be kept by reference until the spool is
        stored or discarded."""

    async def seal(self) -> None:
        """Make the written bytes durable (the slow part of storing a chunk, done before any lock)."""

    async def discard(self) -> None: ...


class ChunkAppender(ChunkSpool, Protocol):
    """A chunk written straight at the end of its upload's assembled prefix as its bytes arrive.

    Offered by ``Storage.open_appender`` when the chunk is the next one the prefix needs: its bytes are
    written once and hashed on the way into the file's running MD5. ``store_chunk`` commits it; ``discard``
    takes it back out of the prefix.
    """


@dataclass(frozen=True)
class Assembly:
    """A file assembled from all its chunks but not yet published. ``md5`` is its digest in hex."""

    file_id: str
    md5: str
    size: int
    handle: object  # backend-specific (a temporary path for the local backend)


class Storage(Protocol):
    async def open(self) -> None:
        """Prepare the backend; also removes what a crash left half-written."""

    async def close(self) -> None: ...

    # Published files and their names.
    async def get_file(self, file_id: str) -> StoredFile | None: ...

    async def get_name(self, file_id: str, ext: str) -> FileName | None: ...

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        """Offer a file (published or not yet) under an extension; the first name given for it stays."""

    def read_file(self, file: StoredFile, start: int, length: int) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes of a published file from ``start`` (for backends without a local path)."""
        ...

    # Uploads in progress.
    async def get_upload(self, file_id: str) -> UploadRecord | None: ...

    async def put_upload(self, record: UploadRecord) -> None:
        """Create the upload, or replace it (and forget its chunks) when one with the same id exists."""

    async def touch_upload(self, file_id: str, now: float) -> None: ...

    async def count_uploads(self, holding_bytes: bool = False) -> int:
        """Uploads in progress; with ``holding_bytes``, only those with at least one chunk stored."""
        ...

    async def free_bytes(self) -> int | None:
        """Bytes still free where uploads are stored; None when the backend cannot tell (no local disk)."""
        ...

    async def stored_chunks(self, file_id: str) -> Mapping[int, int]:
        """Index -> size of every chunk that is safely stored."""
        ...

    async def new_spool(self) -> ChunkSpool: ...

    async def open_appender(self, upload: UploadRecord, index: int) -> ChunkAppender | None:
        """Chunk ``index``'s bytes straight into the assembled prefix, when it is the next one it needs and
        nobody else writes there; None otherwise (then the chunk goes through ``new_spool``). Quick, and
        called without the file's lock. A backend without incremental assembly always answers None."""
        ...

    async def store_chunk(self, file_id: str, index: int, spool: ChunkSpool, size: int) -> bool:
        """Make the sealed spool chunk ``index`` of the upload; from then on it counts as stored.

        Quick (a rename and a row, or a 1 MiB append): the service calls it under the file's lock, after it
        checked the chunk belongs to the upload and (``--verify-chunks arrival``) that its bytes match its
        id. Also takes a ``ChunkAppender``: committing it makes its bytes part of the prefix (when the same
        chunk was stored by another request meanwhile, it is dropped and still counts).
        Returns False (and discards the spool) when the upload no longer exists.
        """
        ...

    async def advance(self, upload: UploadRecord) -> None:
        """Assemble ahead: append the stored chunks that follow the assembled prefix, hashing them.

        Optional work the service schedules in the background (under the file's lock) so that ``assemble``
        has little left to do; a backend without incremental assembly may do nothing here.
        """

    async def assemble(self, upload: UploadRecord) -> Assembly:
        """With every chunk stored: the whole file in order, hidden, with its MD5 computed on the way."""
        ...

    async def publish(self, assembly: Assembly) -> StoredFile:
        """Make an assembled file visible and drop the upload, atomically."""
        ...

    async def discard_assembly(self, assembly: Assembly) -> None: ...

    async def damaged_chunks(self, upload: UploadRecord, assembly: Assembly) -> list[int]:
        """Indexes of the chunks whose bytes in the assembled file do not have the MD5 their id says.

        The repair path, after the whole file's MD5 did not match (damage after arrival, or chunks that were
        not checked as they arrived): it reads the whole file once."""
        ...

    async def drop_chunks(self, upload: UploadRecord, indexes: list[int]) -> None:
        """Forget these chunks of an assembled (unpublished) upload: they are needed again. The others stay
        stored, and the upload can be assembled again once the dropped ones are stored anew."""

    async def delete_upload(self, file_id: str) -> None:
        """Forget an upload and reclaim its chunks' space."""

    async def uploads_untouched_since(self, when: float) -> list[str]: ...
