"""``BlobSource``: the engine's ``FileSource`` (and ``StreamingFileSource``) over a browser ``File``.

The ``File`` lives in the worker (the page hands it over with ``postMessage``, a structured clone), so every
read below is a native Blob read in the worker, not a call back to the page.

- ``read(start, end)``: ``file.slice(start, end).arrayBuffer()``, for the chunks being sent;
- ``blocks(block_size)``: one pass over ``file.stream()`` with a BYOB reader filling ``block_size`` buffers,
  for hashing: the fastest way measured in Chromium (whole-file MD5 at about 300 MB/s, against about
  110 MB/s over 1 MiB slices).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]


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

    async def read(self, start: int, end: int) -> bytes:
        js_buffer = await self.js_file.slice(start, end).arrayBuffer()
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
