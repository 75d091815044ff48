"""``FetchTransport``: the engine's ``Transport`` port over the browser's ``fetch`` (in the PyScript worker).

It moves bytes and nothing else: every HTTP answer is returned whatever its status (a 4xx or 5xx is data for
the engine), and ``TransportError`` is raised only when no answer arrived (``fetch`` rejected: offline,
connection refused or reset, abort, timeout).

Multipart bodies are built as a ``js.FormData`` and sent with ``js.fetch`` itself: ``pyodide.http.pyfetch``
with a ``FormData`` body sends a multipart boundary that does not match its Content-Type header, and
``pyscript.fetch`` JSON-encodes its options. The browser picks the boundary and sets the header; parts go
on the wire in the order they were appended (the engine puts ``file`` first, like the seed's client).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from frontend.engine.errors import TransportError
from frontend.engine.ports import FilePart, FormBody, HttpRequest, HttpResponse, JsonBody


def _js_options(**options: Any) -> Any:
    """A plain JavaScript object (``{...}``) from keyword arguments."""
    return to_js(options, dict_converter=js.Object.fromEntries)


def _js_blob(part: FilePart) -> Any:
    js_bytes = js.Uint8Array.new(len(part.data))
    js_bytes.assign(part.data)  # one copy out of the wasm heap; the Blob keeps its own
    return js.Blob.new([js_bytes], _js_options(type=part.content_type))


def _js_body(body: JsonBody | FormBody | None, js_headers: Any) -> Any:
    if body is None:
        return None
    if isinstance(body, JsonBody):
        js_headers.set("Content-Type", "application/json")
        return body.encode().decode("utf-8")
    js_form = js.FormData.new()
    for part in body.parts:
        if isinstance(part, FilePart):
            js_form.append(part.name, _js_blob(part), part.filename)
        else:
            js_form.append(part.name, part.value)
    return js_form  # fetch sets "multipart/form-data; boundary=..." itself


def _decode_json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


class FetchTransport:
    """Implements ``frontend.engine.ports.Transport`` with the worker's ``fetch``."""

    async def request(self, req: HttpRequest) -> HttpResponse:
        js_headers = js.Headers.new()
        for name, value in req.headers.items():
            js_headers.set(name, value)
        js_body = _js_body(req.body, js_headers)
        js_abort = js.AbortController.new()
        init: dict[str, Any] = {"method": req.method, "headers": js_headers, "signal": js_abort.signal}
        if js_body is not None:
            init["body"] = js_body
        try:
            return await asyncio.wait_for(self._exchange(req.url, _js_options(**init)), req.timeout)
        except TimeoutError:
            js_abort.abort()
            raise TransportError(f"no answer within {req.timeout:g} s from {req.url}") from None
        except asyncio.CancelledError:
            js_abort.abort()  # the engine gave up on this request (e.g. pause): stop sending its bytes
            raise

    async def _exchange(self, url: str, js_init: Any) -> HttpResponse:
        try:
            js_response = await js.fetch(url, js_init)
            text = await js_response.text()  # the body can fail too (connection cut mid-answer)
        except JsException as exc:
            raise TransportError(f"{exc} ({url})") from exc
        return HttpResponse(status=int(js_response.status), json_body=_decode_json(text))
