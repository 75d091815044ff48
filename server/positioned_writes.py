"""Writing buffers at an offset of a file, whole: ``pwritev`` may write less than asked, and takes at most
``IOV_MAX`` buffers per call. Used by the local store and by the chunk form's held bytes."""

from __future__ import annotations

import os

from server.storage.contract import Buffer

IOV_MAX = 512  # buffers per pwritev call (Linux allows 1024)


def pwrite_all(fd: int, pieces: list[Buffer], offset: int) -> int:
    """Write the pieces one after the other from ``offset`` (gathered, a batch per call); the end offset."""
    pending = [memoryview(piece) for piece in pieces if len(piece)]
    while pending:
        batch = pending[:IOV_MAX]
        written = os.pwritev(fd, batch, offset)
        offset += written
        # Drop what was written (pwritev may write less than asked).
        while written and pending:
            if written >= len(pending[0]):
                written -= len(pending.pop(0))
            else:
                pending[0] = pending[0][written:]
                written = 0
    return offset
