"""Reading the seed's chunk form (``file``, ``chunkId``, ``fileId`` in any order: RFC 7578 fixes none) into
the ids and a ``ChunkBody`` for the service.

- **Ids first** (our client): the body is the ``file`` part streamed from the network as the store pulls it,
  so bad ids are refused before any byte is read and a chunk can be written straight where it belongs.
- **File first** (the seed's client): the ids are not known until the bytes have arrived, so the bytes are
  held (``HeldBytes``: in memory within ``MEMORY_HOLD_BYTES`` for all requests together, beyond that in an
  anonymous temporary file) and the body then replays them.

Either way each network read of the chunk is handed, as it arrives, to a worker thread that hashes it into
the chunk's MD5 (``OffLoopMD5``) when the service checks chunks on arrival: the hash runs on the other core
while the loop receives. A body ends only once the whole form was read and its closing boundary seen, so a
form cut off after the file part is refused too.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from server.errors import ApiError, E
from server.offloop_md5 import OffLoopMD5
from server.positioned_writes import pwrite_all
from server.storage.contract import Buffer
from server.uploads.form import FormParser, PartData, PartEnd, PartStart
from server.uploads.protocol import ChunkId, parse_chunk_id, parse_file_id

MAX_FIELD_BYTES = 1024  # fileId and chunkId are under 50 characters
MEMORY_HOLD_BYTES = 16 * 1024 * 1024  # chunk bytes held by all file-first requests together
READ_BACK = 1024 * 1024


class HeldBytes:
    """A chunk's bytes kept until its ids are known: in memory while the shared budget allows, else spilled to
    an anonymous file (gone when closed, or when the process dies)."""

    held = 0  # bytes in memory, all instances together

    def __init__(self, spill_dir: Path) -> None:
        self._spill_dir = spill_dir
        self.pieces: list[Buffer] = []
        self.size = 0
        self._file: int | None = None

    def add(self, data: Buffer) -> None:
        if self._file is None and HeldBytes.held + len(data) > MEMORY_HOLD_BYTES:
            handle = tempfile.TemporaryFile(dir=self._spill_dir)  # noqa: SIM115 - its descriptor is kept
            self._file = os.dup(handle.fileno())
            handle.close()
            pwrite_all(self._file, self.pieces, 0)
            self._release()
        if self._file is not None:
            pwrite_all(self._file, [data], self.size)
        else:
            self.pieces.append(data if isinstance(data, bytes) or data.readonly else bytes(data))
            HeldBytes.held += len(data)
        self.size += len(data)

    async def replay(self) -> AsyncIterator[Buffer]:
        if self._file is None:
            for piece in self.pieces:
                yield piece
            return
        offset = 0
        while offset < self.size:
            data = await asyncio.to_thread(os.pread, self._file, min(READ_BACK, self.size - offset), offset)
            if not data:
                raise OSError(f"the held chunk ended after {offset} of {self.size} bytes")
            offset += len(data)
            yield data

    def _release(self) -> None:
        HeldBytes.held -= sum(len(piece) for piece in self.pieces)
        self.pieces = []

    def close(self) -> None:
        self._release()
        fd, self._file = self._file, None
        if fd is not None:
            os.close(fd)


class ChunkForm:
    """One chunk request's form. ``await open()`` gives the ids and the body; ``await finish()`` reads
    whatever the service did not (a late duplicate's bytes); ``close()`` releases what is held."""

    def __init__(
        self,
        pieces: AsyncIterator[bytes],
        boundary: bytes,
        *,
        max_chunk_bytes: int,
        hashing: bool,
        spill_dir: Path,
    ) -> None:
        self._pieces = pieces
        self._parser = FormParser(boundary)
        self._events: list[PartStart | PartData | PartEnd] = []
        self._limit = max_chunk_bytes
        self._spill_dir = spill_dir
        self.fields: dict[str, bytearray] = {}
        self.size = 0
        self.hasher = OffLoopMD5(hashlib.md5()) if hashing else None
        self._current: str | None = None
        self._held: HeldBytes | None = None
        self._file_seen = False
        self._body_read = False

    async def open(self) -> tuple[str, ChunkId, FormBody]:
        async for event in self._until_file():
            self._field_event(event)
        if not self._file_seen:
            raise ApiError(E.BAD_FIELD, "the form has no 'file' part with the chunk's bytes")
        if "fileId" in self.fields and "chunkId" in self.fields:
            file_id, chunk = self.ids()  # ids first: bad ones are refused before the bytes are read
            return file_id, chunk, FormBody(self, None)
        self._held = HeldBytes(self._spill_dir)
        async for data in self.file_data():
            self._held.add(data)
        await self.rest()
        file_id, chunk = self.ids()
        return file_id, chunk, FormBody(self, self._held)

    async def finish(self) -> None:
        if not self._body_read:
            async for _ in self.file_data():
                pass
            await self.rest()

    def close(self) -> None:
        if self._held is not None:
            self._held.close()

    def ids(self) -> tuple[str, ChunkId]:
        text = {}
        for name, raw in self.fields.items():
            try:
                text[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(E.BAD_FIELD, f"form field {name!r} is not UTF-8 text") from None
        return parse_file_id(text.get("fileId")), parse_chunk_id(text.get("chunkId"))

    # -- the events, in order ---------------------------------------------------------------------------------

    async def _next_events(self) -> bool:
        """Parse the next network read; False once the body ended (then the form must be complete)."""
        try:
            piece = await anext(self._pieces)
        except StopAsyncIteration:
            self._parser.close()
            return False
        except (ConnectionError, asyncio.IncompleteReadError):
            raise ApiError(E.INCOMPLETE_BODY) from None  # the client went away mid-body
        self._events.extend(self._parser.feed(piece))
        return True

    async def _until_file(self) -> AsyncIterator[PartStart | PartData | PartEnd]:
        """The events before the ``file`` part starts (the form's end, if it has none)."""
        while True:
            while self._events:
                event = self._events.pop(0)
                if isinstance(event, PartStart) and event.name == "file":
                    self._file_seen = True
                    self._current = "file"
                    return
                yield event
            if not await self._next_events():
                return

    async def file_data(self) -> AsyncIterator[memoryview]:
        """The ``file`` part's bytes, up to its end."""
        while True:
            while self._events:
                event = self._events[0]
                if not isinstance(event, PartData):
                    self._events.pop(0)
                    self._current = None
                    return
                self._events.pop(0)
                self.size += len(event.data)
                if self.size > self._limit:
                    raise ApiError(
                        E.CHUNK_TOO_LARGE,
                        f"the chunk is over {self._limit} bytes, the most this server accepts",
                    )
                if self.hasher is not None:
                    self.hasher.feed(event.data)  # hashed in a worker thread, beside the loop's work
                yield event.data
            if not await self._next_events():
                return

    async def rest(self) -> None:
        """The form after the ``file`` part: fields (a second file part is an error), then its end."""
        while True:
            while self._events:
                event = self._events.pop(0)
                if isinstance(event, PartStart) and event.name == "file":
                    raise ApiError(E.BAD_FORM, "the form has more than one 'file' part")
                self._field_event(event)
            if not await self._next_events():
                self._body_read = True
                return

    def _field_event(self, event: PartStart | PartData | PartEnd) -> None:
        if isinstance(event, PartStart):
            self._current = event.name if event.name in ("fileId", "chunkId") else None  # others ignored
            if self._current is not None:
                if self._current in self.fields:
                    raise ApiError(E.BAD_FORM, f"the form has more than one {event.name!r} field")
                self.fields[self._current] = bytearray()
        elif isinstance(event, PartData):
            if self._current is not None:
                value = self.fields[self._current]
                value += event.data
                if len(value) > MAX_FIELD_BYTES:
                    raise ApiError(
                        E.BAD_FIELD, f"form field {self._current!r} is longer than {MAX_FIELD_BYTES} bytes"
                    )
        else:
            self._current = None


class FormBody:
    """The ``ChunkBody`` of a form: its ``file`` part, streamed (ids first) or replayed (file first)."""

    def __init__(self, form: ChunkForm, held: HeldBytes | None) -> None:
        self._form = form
        self._held = held

    @property
    def size(self) -> int:
        return self._form.size

    async def __aiter__(self) -> AsyncIterator[Buffer]:
        if self._held is not None:
            async for piece in self._held.replay():
                yield piece
            return
        async for data in self._form.file_data():
            yield data
        await self._form.rest()  # the chunk counts only once the whole form arrived

    async def md5(self) -> str | None:
        hasher = self._form.hasher
        if hasher is None:
            return None
        await hasher.wait()
        return hasher.digests[0].hexdigest()
