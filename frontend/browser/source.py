"""``BlobSource``: the engine's ``FileSource`` (and ``StreamingFileSource``) over a browser ``File``.

The ``File`` lives in the worker (the page hands it over with ``postMessage``, a structured clone), so every
read below is a native Blob read in the worker, not a call back to the page.

- ``slice(start, end)``: ``file.slice(start, end)``, what ``FetchTransport`` puts in a chunk's form (the
  browser reads it while sending: no read here, no copy through Python);
- ``read(start, end)``: ``file.slice(start, end).arrayBuffer()``, to check a chunk whose request failed;
- ``blocks(block_size)``: one pass over ``file.stream()`` with a BYOB reader filling ``block_size`` buffers,
  for hashing: the fastest way measured in Chromium (whole-file MD5 at about 300 MB/s, against about
  110 MB/s over 1 MiB slices).

A ``File`` is a snapshot: Chromium fails every read of a file modified after it was chosen with
``NotReadableError`` (``tests/e2e/test_faults.py``), and the fetch of a form holding a slice of it; a file
deleted since fails with ``NotFoundError`` (the File API's "snapshot state"). ``read`` reports both as the
engine's ``FILE_CHANGED``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from frontend.engine.errors import EngineError, Err

# What Chromium's Blob reads fail with once the file on disk is not the one chosen (modified, deleted).
SNAPSHOT_GONE = ("NotReadableError", "NotFoundError")


def _js_error_name(exc: JsException) -> str:
    name = getattr(exc, "name", None)
    return name if isinstance(name, str) else str(exc).split(":", 1)[0].strip()


class BlobSource:
    """Implements ``frontend.engine.ports.StreamingFileSource`` for one ``File`` (``js_file``)."""

    def __init__(self, js_file: Any) -> None:
        self.js_file = js_file
        self._name = str(js_file.name)
        self._size = int(js_file.size)
        self._last_modified = float(js_file.lastModified)

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return self._size

    @property
    def last_modified(self) -> float:
        return self._last_modified

    def slice(self, start: int, end: int) -> Any:
        """``file.slice(start, end)``: a Blob the browser reads only when it sends it."""
        return self.js_file.slice(start, end)

    async def read(self, start: int, end: int) -> bytes:
        try:
            js_buffer = await self.js_file.slice(start, end).arrayBuffer()
        except JsException as exc:
            if _js_error_name(exc) in SNAPSHOT_GONE:
                raise EngineError(Err.FILE_CHANGED) from exc  # the user's message; the chain keeps exc
            raise
        return js_buffer.to_bytes()

    async def blocks(self, block_size: int) -> AsyncIterator[bytes]:
        """The whole file, in pieces of ``block_size`` bytes (the last one shorter)."""
        js_reader = self.js_file.stream().getReader(
            to_js({"mode": "byob"}, dict_converter=js.Object.fromEntries)
        )
        js_buffer = js.ArrayBuffer.new(block_size)
        done = False
        try:
            while not done:
                filled = 0
                while filled < block_size:
                    # A BYOB read transfers the buffer: keep using the one it hands back.
                    js_result = await js_reader.read(
                        js.Uint8Array.new(js_buffer, filled, block_size - filled)
                    )
                    if js_result.done:
                        done = True
                        if js_result.value is not None:
                            js_buffer = js_result.value.buffer
                        break
                    filled += int(js_result.value.byteLength)
                    js_buffer = js_result.value.buffer
                if filled:
                    yield js.Uint8Array.new(js_buffer, 0, filled).to_bytes()
        finally:
            if not done:
                await js_reader.cancel()
            js_reader.releaseLock()
