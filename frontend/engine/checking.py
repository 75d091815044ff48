"""A chunk read again and checked against the id it was hashed to: a changed file, or damage on the way?

Chunks are not read or hashed again before they are sent (a browser ``File`` is a snapshot: Chromium fails
any read of a file modified after it was chosen, the fetch of a slice of it included, and the server checks
the whole file's MD5). So a chunk is checked only when something went wrong with it: its request failed
with a network error (the fetch may have failed because the file could not be read), the server refused it
as it arrived (422 CHUNK_MISMATCH), or the server found it damaged at assembly (422 CHUNKS_DAMAGED names
it). A read that fails is READ_FAILED (or what the source raised, e.g. FILE_CHANGED), other bytes than when
hashed are FILE_CHANGED; otherwise the bytes were damaged on the way and the server's answer stands.
``UploadConfig.verify_chunks`` checks each chunk before it is sent, for sources that are not snapshots.
"""

from __future__ import annotations

from .chunking import Chunk, ChunkPlan
from .errors import EngineError, Err, ServerError
from .hashing import md5_hex
from .ports import FileSource


async def checked_chunk(source: FileSource, chunk: Chunk) -> bytes:
    """The chunk's bytes, read again and checked against its id."""
    try:
        data = await source.read(chunk.start, chunk.end)
    except EngineError:
        raise  # the source knows better (e.g. FILE_CHANGED for a File modified after it was chosen)
    except Exception as exc:
        raise EngineError(Err.READ_FAILED, f"chunk {chunk.index} could not be read: {exc}") from exc
    if len(data) != chunk.size or md5_hex(data) != chunk.id[:32]:
        raise EngineError(
            Err.FILE_CHANGED, f"chunk {chunk.index} is not what it was when hashed; the file changed"
        )
    return data


async def check_damaged(source: FileSource, plan: ChunkPlan, exc: ServerError) -> None:
    """Read again the chunks a 422 CHUNKS_DAMAGED names (its ``data``)."""
    damaged = exc.data if isinstance(exc.data, list) else []
    for cid in damaged:
        chunk = plan.by_id(cid) if isinstance(cid, str) else None
        if chunk is not None:
            await checked_chunk(source, chunk)
