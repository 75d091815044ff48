"""The whole file's digests, computed while it downloads: SHA-256 (for the server's ``Repr-Digest``) and, for
an uploaded file, MD5 (its ``fileId``, which its link names).

Segments land in any order, so the digests follow the part of the file that is done from its start (the
done prefix): each time it grows, the new bytes are read back from the partial file (a positioned read of
bytes just written, cheap) and hashed. When the last segment lands, little is left to hash, and the check
before the file is handed over is quick. After a reload the digests start from zero and catch up with
what is on disk. Reads go in blocks of ``block_size``: one block in memory at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from .download_ports import PartialFile
from .errors import EngineError, Err

BLOCK_SIZE = 1024 * 1024


class FileDigest:
    def __init__(self, md5: bool, block_size: int = BLOCK_SIZE) -> None:
        self.position = 0  # bytes hashed, from the start of the file
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5() if md5 else None
        self._block_size = block_size
        self._lock = asyncio.Lock()  # lanes land segments concurrently; one reader at a time

    async def advance(
        self, file: PartialFile, to: int, progress: Callable[[int], None] | None = None
    ) -> None:
        """Hash the file's bytes up to ``to`` (read back from ``file``); ``progress`` with the position."""
        async with self._lock:
            while self.position < to:
                size = min(self._block_size, to - self.position)
                data = await file.read(self.position, size)
                if len(data) != size:
                    raise EngineError(
                        Err.STORAGE_FAILED, f"reading {size} bytes at {self.position} gave {len(data)}"
                    )
                self._sha256.update(data)
                if self._md5 is not None:
                    self._md5.update(data)
                self.position += size
                if progress is not None:
                    progress(self.position)

    def sha256(self) -> bytes:
        return self._sha256.digest()

    def md5_hex(self) -> str | None:
        return self._md5.hexdigest() if self._md5 is not None else None
