"""``FetchStreamTransport``: the download engine's ``StreamTransport`` port over the worker's ``fetch``.

Like ``transport.FetchTransport`` it moves bytes and nothing else: every answer is returned whatever its
status, ``TransportError`` is raised when no answer came, or when its body stopped before its end (the
connection was cut, the browser went offline, the request was aborted).

The body is read from ``response.body`` as it arrives, gathered in JavaScript into ``PIECE``-byte pieces (a
BYOB reader where the browser has one, else the default reader's chunks copied together), each handed to
the engine as a ``JsPiece`` (a ``Uint8Array`` it only counts) and written to OPFS at once: a segment is never
held whole, and its bytes never cross into Python on their way to the disk. The answer's head has ``req.timeout`` to arrive (a Python timer: ``AbortSignal.timeout``
would cut the body too); the body has no deadline (the engine cuts a body that stalls). ``aclose`` aborts
a body not read to its end (``AbortController``), as does cancelling the task that reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsException  # type: ignore[import-not-found]

from frontend.browser.js_promise import js_object
from frontend.engine.errors import TransportError
from frontend.engine.ports import HttpRequest

PIECE = 1024 * 1024  # bytes per piece handed to the engine: one Python await per MiB

# A body's reader that gathers ``size`` bytes in JavaScript before Python sees them: the network delivers
# small chunks (tens of KiB), and under Pyodide each ``await`` in Python is a trip through the browser's
# event loop, so reading chunk by chunk from Python made downloads several times slower. ``next()``
# resolves to a ``Uint8Array`` of ``size`` bytes (fewer at the end), or ``undefined`` (None) once the body is
# over.
_PIECES = run_js(
    """(body, size) => {
  let reader, byob = true, carry = null;
  try { reader = body.getReader({ mode: "byob" }); } catch { reader = body.getReader(); byob = false; }
  return {
    async next() {
      let piece = new Uint8Array(size), filled = 0;
      if (carry !== null) {
        const n = Math.min(carry.length, size);
        piece.set(carry.subarray(0, n));
        filled = n;
        carry = n < carry.length ? carry.subarray(n) : null;
      }
      while (filled < size) {
        if (byob) {  // a BYOB read transfers the buffer: keep the one it hands back
          const { done, value } = await reader.read(new Uint8Array(piece.buffer, filled, size - filled));
          if (value) { piece = new Uint8Array(value.buffer); filled += value.byteLength; }
          if (done) break;
        } else {
          const { done, value } = await reader.read();
          if (done) break;
          const n = Math.min(value.length, size - filled);
          piece.set(value.subarray(0, n), filled);
          filled += n;
          if (n < value.length) carry = value.subarray(n);
        }
      }
      return filled > 0 ? piece.subarray(0, filled) : undefined;
    },
  };
}"""
)


class JsPiece:
    """A piece of a body as the browser has it (a ``Uint8Array``): the engine counts it, ``OpfsPartialFile``
    writes it as it is (the bytes never cross into Python on their way to the disk)."""

    __slots__ = ("js_array",)

    def __init__(self, js_array: Any) -> None:
        self.js_array = js_array

    def __len__(self) -> int:
        return int(self.js_array.byteLength)


class FetchStreamResponse:
    def __init__(self, js_response: Any, js_abort: Any, url: str) -> None:
        self._js_response = js_response
        self._js_abort = js_abort
        self._url = url
        self._finished = False
        self.status = int(js_response.status)
        headers: dict[str, str] = {}
        js_entries = js_response.headers.entries()
        while not (js_step := js_entries.next()).done:
            name, value = js_step.value
            headers[str(name).lower()] = str(value)
        self.headers: Mapping[str, str] = headers

    async def pieces(self) -> AsyncIterator[JsPiece]:
        js_body = self._js_response.body
        if js_body is None:  # no content (a 204, a HEAD)
            self._finished = True
            return
        try:
            js_reader = _PIECES(js_body, PIECE)
            while (js_piece := await js_reader.next()) is not None:
                yield JsPiece(js_piece)
            self._finished = True
        except JsException as exc:  # the connection was cut, offline, aborted
            raise TransportError(f"the answer from {self._url} stopped: {exc}") from exc
        except asyncio.CancelledError:
            self._js_abort.abort()
            raise

    async def text(self) -> str:
        try:
            text = str(await self._js_response.text())
        except JsException as exc:
            raise TransportError(f"the answer from {self._url} stopped: {exc}") from exc
        self._finished = True
        return text

    async def aclose(self) -> None:
        if not self._finished:
            self._finished = True
            self._js_abort.abort()  # the rest of the body is not wanted: stop it


class FetchStreamTransport:
    """Implements ``frontend.engine.download_ports.StreamTransport`` with the worker's ``fetch``."""

    async def open(self, req: HttpRequest) -> FetchStreamResponse:
        js_headers = js.Headers.new()
        for name, value in req.headers.items():
            js_headers.set(name, value)
        js_abort = js.AbortController.new()
        # The browser's HTTP cache must not answer a range from a stale copy: no-store (every byte fresh).
        init = js_object(method=req.method, headers=js_headers, signal=js_abort.signal, cache="no-store")

        async def exchange() -> Any:
            return await js.fetch(req.url, init)

        try:
            js_response = await asyncio.wait_for(exchange(), req.timeout)
        except TimeoutError:
            js_abort.abort()
            raise TransportError(f"no answer within {req.timeout:g} s from {req.url}") from None
        except JsException as exc:
            raise TransportError(f"{exc} ({req.url})") from exc
        except asyncio.CancelledError:
            js_abort.abort()
            raise
        return FetchStreamResponse(js_response, js_abort, req.url)
