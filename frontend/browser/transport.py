"""``FetchTransport``: the engine's ``Transport`` port over the browser's ``fetch`` (in the PyScript worker).

It moves bytes and nothing else: every HTTP answer is returned whatever its status (a 4xx or 5xx is data for
the engine), and ``TransportError`` is raised only when no answer arrived (``fetch`` rejected: offline,
connection refused or reset, abort, timeout, or the file's slice could not be read while sending).

Multipart bodies are built as a ``js.FormData`` and sent with ``js.fetch`` itself: ``pyodide.http.pyfetch``
with a ``FormData`` body sends a multipart boundary that does not match its Content-Type header, and
``pyscript.fetch`` JSON-encodes its options. The browser picks the boundary and sets the header; parts go
on the wire in the order they were appended (the engine's order: ``chunkId``, ``fileId``, then ``file``).

A chunk (a ``FileRange`` of a ``BlobSource``) goes in the form as ``file.slice(start, end)``, as the seed's
client sends it: the browser streams it from the file while sending, and no byte passes through Python.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from frontend.browser.source import BlobSource
from frontend.engine.errors import TransportError
from frontend.engine.ports import FilePart, FileRange, FormBody, HttpRequest, HttpResponse, JsonBody

# AbortSignal.timeout + AbortSignal.any (Chromium 116, Firefox 124, Safari 17.4): the timeout without a timer
# on Python's event loop.
_BROWSER_TIMEOUTS = hasattr(js.AbortSignal, "any") and hasattr(js.AbortSignal, "timeout")


def _js_options(**options: Any) -> Any:
    """A plain JavaScript object (``{...}``) from keyword arguments."""
    return to_js(options, dict_converter=js.Object.fromEntries)


def _js_blob(data: bytes, content_type: str) -> Any:
    js_bytes = js.Uint8Array.new(len(data))
    js_bytes.assign(data)  # one copy out of the wasm heap; the Blob keeps its own
    return js.Blob.new([js_bytes], _js_options(type=content_type))


async def _js_file_part(part: FilePart) -> Any:
    data = part.data
    if isinstance(data, FileRange):
        if isinstance(data.source, BlobSource):
            return data.source.slice(data.start, data.end)  # no read: the browser streams it while sending
        try:
            data = await data.read()
        except Exception as exc:  # like a fetch whose body could not be read
            raise TransportError(f"the file part could not be read: {exc}") from exc
    return _js_blob(data, part.content_type)


async def _js_body(body: JsonBody | FormBody | None) -> tuple[Any, str | None]:
    """The body for ``fetch``, and the Content-Type to set (None: none, or fetch sets it)."""
    if body is None:
        return None, None
    if isinstance(body, JsonBody):
        return body.encode().decode("utf-8"), "application/json"
    js_form = js.FormData.new()
    for part in body.parts:
        if isinstance(part, FilePart):
            js_form.append(part.name, await _js_file_part(part), part.filename)
        else:
            js_form.append(part.name, part.value)
    return js_form, None  # fetch sets "multipart/form-data; boundary=..." itself


def _decode_json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


class FetchTransport:
    """Implements ``frontend.engine.ports.Transport`` with the worker's ``fetch``.

    Per request: one ``fetch`` and one ``text()``, nothing else scheduled on Python's event loop (under
    Pyodide each callback is a trip through the browser's): the timeout is the browser's own
    (``AbortSignal.timeout``, joined with the abort used on cancellation), not a Python timer."""

    async def request(self, req: HttpRequest) -> HttpResponse:
        js_body, content_type = await _js_body(req.body)
        init: dict[str, Any] = {"method": req.method}
        if req.headers or content_type is not None:
            js_headers = js.Headers.new()
            for name, value in req.headers.items():
                js_headers.set(name, value)
            if content_type is not None:
                js_headers.set("Content-Type", content_type)
            init["headers"] = js_headers
        if js_body is not None:
            init["body"] = js_body
        js_abort = js.AbortController.new()
        js_timeout = None
        python_timeout = None
        if req.timeout is None:
            init["signal"] = js_abort.signal
        elif _BROWSER_TIMEOUTS:
            js_timeout = js.AbortSignal.timeout(max(1, round(req.timeout * 1000)))
            init["signal"] = js.AbortSignal.any(to_js([js_abort.signal, js_timeout]))
        else:  # an older browser (no AbortSignal.any): a Python timer
            init["signal"] = js_abort.signal
            python_timeout = req.timeout
        try:
            return await asyncio.wait_for(self._exchange(req.url, _js_options(**init)), python_timeout)
        except JsException as exc:
            if js_timeout is not None and js_timeout.aborted:
                raise TransportError(f"no answer within {req.timeout:g} s from {req.url}") from None
            raise TransportError(f"{exc} ({req.url})") from exc
        except TimeoutError:
            js_abort.abort()
            raise TransportError(f"no answer within {req.timeout:g} s from {req.url}") from None
        except asyncio.CancelledError:
            js_abort.abort()  # the engine gave up on this request (e.g. pause): stop sending its bytes
            raise

    @staticmethod
    async def _exchange(url: str, js_init: Any) -> HttpResponse:
        js_response = await js.fetch(url, js_init)
        text = await js_response.text()  # the body can fail too (connection cut mid-answer)
        return HttpResponse(status=int(js_response.status), json_body=_decode_json(text))
