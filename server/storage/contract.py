"""The storage contract: what the upload service needs from a backend, and nothing about HTTP.

A backend keeps published files (immutable, named by their MD5), the names (extension and original name) each
is offered under, and uploads in progress with the chunks kept so far. It only does I/O: what is valid, what
is still needed, what is a duplicate, which chunk is written where and when to assemble are the service's
decisions (``server.uploads.service``), taken under its per-file locks; a backend's own concurrency, if it
has any, stays inside it.

The core (``Store``) is what every backend implements. A chunk's bytes reach the store as a reader it pulls
from (``write_chunk``): they are staged, invisible, until the service keeps them (``keep_chunk``, after it
checked them) or discards them. Optional abilities are separate small protocols the service discovers with
``isinstance``; a backend without one simply lacks the method, nothing "may do nothing":

- ``AssemblesInPlace``: chunks that arrive in order are written at the end of the file being assembled, and
  the chunks kept out of order are appended there in the background, so the last chunk's answer does not
  wait for a whole-file copy and hash.
- ``RepairsDamage``: after the whole file's MD5 failed, find the chunks whose bytes no longer match their ids
  and forget only those (else the service discards the upload).
- ``LocalFiles``: a published file's local path, so downloads use sendfile.
- ``FreeSpace``: bytes still free, so a full disk is refused before anything is written.
- ``Sweeps``: housekeeping of its own, run with the service's expiry sweep (what a killed process left).
- ``SharedLocks``: locks every process sharing the store sees (several server instances on one database);
  the service then takes its per-file locks and its claims on an upload's end there, not only in memory.

The embedded default is ``server.storage.local.LocalStorage``; ``tests/support/memory_store.py`` implements
the core alone, and the service's tests run over it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

Buffer = bytes | memoryview
"""A piece of a chunk as it arrived: read-only, so a store may keep it by reference until it is kept."""


def key_file_id(key: str) -> str:
    """The file id in a chunked upload's key: the key is the fileId, or the fileId, ``.`` and a suffix
    (``find_uploads``). A stream upload's key (no ``.``) comes back whole."""
    return key.partition(".")[0]


@dataclass(frozen=True)
class StoredFile:
    """A published, verified file."""

    file_id: str
    size: int
    created_at: float


@dataclass(frozen=True)
class FileName:
    """One way a published file is offered: ``/upload/<file_id><ext>``, downloaded as ``name``."""

    file_id: str
    ext: str
    name: str | None


@dataclass(frozen=True)
class Upload:
    """An upload in progress and the chunks kept so far.

    Two kinds share one shape. A **chunked** upload (the seed's protocol) has the chunk list its handshake
    gave, its ``key`` is the fileId (the file's MD5), and its chunks may arrive in any order. A **stream**
    upload (tus, the IETF draft) has no chunk list (``chunk_ids`` None): its chunks are its appends, in order,
    and its key is a random id; what its file's MD5 is is known once it is assembled. ``info`` is what the
    protocol that created it keeps with it (opaque to the store). A stream upload stays, ``published`` under
    its file's MD5, after it is complete (its protocol still answers for it) until it expires or is deleted.

    Uploads of one file with different chunk lists (another chunk size, or a stranger's made-up list for a
    known MD5) coexist, each under its own key (``server.uploads.upload_keys``); ``find_uploads`` lists them.
    ``owner`` is who started the upload (the client's address), so limits per client hold across restarts
    and across the instances of a cluster.

    ``stored`` (index -> size) may be a live read-only view of the store's state rather than a copy (a copy
    would cost time in the number of chunks on every request): read it under the upload's lock to decide.
    """

    key: str
    chunk_ids: tuple[str, ...] | None
    size: int | None  # declared by the client, if it did
    created_at: float
    updated_at: float
    stored: Mapping[int, int]
    info: str | None = None
    published: str | None = None  # the file id of a complete stream upload
    owner: str | None = None  # the client that started it

    @property
    def chunk_count(self) -> int:
        """The chunks the file is made of: its list's, or (a stream) those kept so far."""
        return len(self.chunk_ids) if self.chunk_ids is not None else len(self.stored)


@dataclass(frozen=True)
class StagedChunk:
    """A chunk's bytes written by ``write_chunk`` and not counted yet; ``key`` names them inside the store."""

    upload: str  # the upload's key
    index: int
    size: int
    key: str


@dataclass(frozen=True)
class Assembly:
    """A file assembled from all its chunks but not yet published. ``md5`` is its digest in hex."""

    upload: str  # the upload's key
    md5: str
    size: int


class Store(Protocol):
    """The core every backend implements."""

    async def open(self) -> None:
        """Prepare the backend; also reclaims what a crash left half-written."""

    async def close(self) -> None: ...

    # Published files and the names they are offered under.
    async def get_file(self, file_id: str) -> StoredFile | None: ...

    def read_file(self, file: StoredFile, start: int, length: int) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes of a published file from ``start``."""
        ...

    async def get_name(self, file_id: str, ext: str) -> FileName | None: ...

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        """Offer a file (published or not yet) under an extension; the first name given for it stays."""

    # Uploads in progress.
    async def get_upload(self, key: str) -> Upload | None: ...

    async def find_uploads(self, file_id: str) -> list[Upload]:
        """The chunked uploads of a file: those whose key is ``file_id`` or starts with ``file_id + "."``."""
        ...

    async def create_upload(
        self,
        key: str,
        chunk_ids: tuple[str, ...] | None,
        size: int | None,
        now: float,
        info: str | None = None,
        owner: str | None = None,
    ) -> Upload:
        """Start an upload with no chunk kept; one with the same key is replaced, its chunks forgotten."""
        ...

    async def touch_upload(self, key: str, now: float, size: int | None = None) -> None:
        """Note that the upload was used at ``now``; with ``size``, also declare its size (once unknown)."""

    async def count_uploads(self, holding_bytes: bool = False, owner: str | None = None) -> int:
        """Uploads in progress (not the published ones); with ``holding_bytes``, only those with at least one
        chunk kept; with ``owner``, only those that client started."""
        ...

    async def uploads_untouched_since(self, when: float) -> list[str]: ...

    async def delete_upload(self, key: str) -> None:
        """Forget an upload and reclaim its chunks' space (staged chunks of it may still be discarded)."""

    # Chunks: written (staged), then kept or discarded.
    async def write_chunk(self, upload: Upload, index: int, reader: AsyncIterable[Buffer]) -> StagedChunk:
        """Pull the chunk's bytes from ``reader`` to its end and stage them, invisible to everyone.

        If the reader raises, nothing of it is kept and the error propagates."""
        ...

    async def keep_chunk(self, staged: StagedChunk) -> Upload:
        """Make staged bytes chunk ``staged.index`` of their upload; the upload after it. Called under the
        file's lock once the service decided the chunk is wanted: its upload exists and holds no copy of it."""
        ...

    async def discard_chunk(self, staged: StagedChunk) -> None:
        """Drop staged bytes (refused, not needed, or their upload is gone)."""

    def read_upload(self, upload: Upload) -> AsyncIterator[bytes]:
        """The bytes of the upload's kept chunks, in order (a partial upload of tus's concatenation, read into
        the final one). The service holds the upload's end meanwhile, so nothing is appended to it."""
        ...

    # Assembly.
    async def assemble(self, upload: Upload) -> Assembly:
        """With every chunk kept: the whole file in order, hidden, with its MD5 computed on the way."""
        ...

    async def publish(self, assembly: Assembly) -> StoredFile:
        """Make an assembled file visible under its MD5 and end its upload, atomically: a chunked upload is
        dropped, a stream upload marked ``published``. A file with that MD5 already there stays as it is."""
        ...

    async def discard_assembly(self, assembly: Assembly) -> None: ...


@runtime_checkable
class AssemblesInPlace(Protocol):
    """Assembly that keeps pace with the chunks: the file is built while its chunks arrive."""

    def tail(self, upload: Upload) -> int | None:
        """The index of the chunk that can be written at the end of the assembled part now; None when none can
        (the assembled part's digest is still being rebuilt after a restart, say)."""
        ...

    async def write_chunk_in_place(
        self, upload: Upload, index: int, reader: AsyncIterable[Buffer]
    ) -> StagedChunk:
        """``write_chunk`` straight at the end of the assembled part, for chunk ``tail(upload)``: written once.

        The service lets one such write run per upload at a time and runs no ``advance`` or ``assemble`` of
        that upload meanwhile; keeping it makes it part of the assembled file, discarding it cuts it off."""
        ...

    async def advance(self, upload: Upload) -> None:
        """Append the kept chunks that follow the assembled part, as far as they go without a gap."""


@runtime_checkable
class RepairsDamage(Protocol):
    """Finding chunks damaged after they were kept (on disk; or never checked, ``--verify-chunks assembly``)."""

    async def damaged_chunks(self, upload: Upload, assembly: Assembly) -> list[int]:
        """Indexes of the chunks whose bytes in the assembled file do not have the MD5 their id says."""
        ...

    async def drop_chunks(self, upload: Upload, indexes: list[int]) -> None:
        """Forget these chunks of an assembled (unpublished) upload; the others stay kept, and the upload can
        be assembled again once the dropped ones are kept anew."""


@runtime_checkable
class LocalFiles(Protocol):
    """Published files that are files on this machine's disk (served with sendfile)."""

    def local_path(self, file: StoredFile) -> Path: ...


@runtime_checkable
class FreeSpace(Protocol):
    """A store that can tell how much room is left where uploads are written."""

    async def free_bytes(self) -> int: ...


@runtime_checkable
class SharedLocks(Protocol):
    """Locks held across every process that shares the store, released when their holder dies."""

    def hold(self, key: str) -> AbstractAsyncContextManager[object]:
        """Wait for ``key``'s lock and hold it for the ``async with`` body."""
        ...

    def try_hold(self, key: str) -> AbstractAsyncContextManager[object | None]:
        """``key``'s lock for the ``async with`` body if nobody holds it now; else the body gets None."""
        ...


@runtime_checkable
class Sweeps(Protocol):
    """A store that cleans up after itself periodically (e.g. multipart uploads a killed process left)."""

    async def sweep(self) -> None: ...
