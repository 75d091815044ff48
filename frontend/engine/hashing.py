"""One streaming pass over a ``FileSource`` that computes the chunk plan (whole-file MD5 + each chunk's MD5).

Memory stays bounded by one block: the file is read block by block (``source.blocks`` when the source can
stream, else ``source.read`` over consecutive ranges); each block feeds the whole-file digest and the
current chunk's digest, and the chunk digest is closed at each chunk boundary. No chunk's bytes are kept.

Also here: ``extname`` (the seed's), and the ``ext``/``name`` actually sent to the server (what it accepts
is the wire's rule, ``wire.names``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable

from wire import names
from wire.ids import chunk_id

from .chunking import CHUNK_SIZE, Chunk, ChunkPlan, chunk_spans
from .errors import EngineError, Err
from .ports import FileSource

ProgressFn = Callable[[int], None]
"""Called with the number of bytes hashed so far, after each block."""


def md5_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# The seed's ``extname`` and what of a file's name is sent: the wire's rules, shared with the server.
extname = names.extname
upload_ext = names.offered_ext
upload_name = names.offered_name


async def _ranges(source: FileSource, block_size: int) -> AsyncIterator[bytes]:
    start = 0
    while start < source.size:
        end = min(source.size, start + block_size)
        data = await source.read(start, end)
        if len(data) != end - start:
            raise EngineError(
                Err.FILE_CHANGED, f"reading bytes {start}-{end} gave {len(data)} bytes; the file changed"
            )
        yield data
        start = end


def _blocks(source: FileSource, block_size: int) -> AsyncIterator[bytes]:
    stream = getattr(source, "blocks", None)
    if callable(stream):
        return stream(block_size)
    return _ranges(source, block_size)


async def hash_file(
    source: FileSource,
    *,
    chunk_size: int = CHUNK_SIZE,
    block_size: int | None = None,
    on_progress: ProgressFn | None = None,
) -> ChunkPlan:
    """Read ``source`` once and return its ``ChunkPlan``; ``EngineError`` READ_FAILED or FILE_CHANGED."""
    size = source.size
    spans = chunk_spans(size, chunk_size)
    whole = hashlib.md5(usedforsecurity=False)
    current = hashlib.md5(usedforsecurity=False)
    chunks: list[Chunk] = []
    index = 0  # the chunk being hashed
    pos = 0  # bytes hashed
    try:
        async for block in _blocks(source, block_size or chunk_size):
            view = memoryview(block)
            while len(view):
                span = spans[index]
                take = view[: span.end - pos]
                if not len(take):  # past the last chunk: more bytes than the size said
                    raise EngineError(
                        Err.FILE_CHANGED, f"the file has more than the {size} bytes it had when chosen"
                    )
                whole.update(take)
                current.update(take)
                pos += len(take)
                view = view[len(take) :]
                if pos == span.end and index + 1 < len(spans):
                    chunks.append(Chunk(index, span.start, span.end, chunk_id(current.hexdigest(), index)))
                    current = hashlib.md5(usedforsecurity=False)
                    index += 1
            if on_progress is not None:
                on_progress(pos)
    except EngineError:
        raise
    except Exception as exc:  # whatever the source raised (OSError, a JS NotReadableError...)
        raise EngineError(Err.READ_FAILED, f"the file could not be read: {exc}") from exc
    if pos != size:
        raise EngineError(Err.FILE_CHANGED, f"the file has {pos} bytes, not the {size} it had when chosen")
    last = spans[-1]
    chunks.append(Chunk(last.index, last.start, last.end, chunk_id(current.hexdigest(), last.index)))
    return ChunkPlan(whole.hexdigest(), upload_ext(source.name), size, chunk_size, tuple(chunks))
