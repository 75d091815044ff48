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

Stalls (``HttpRequest.stall_timeout``; the policy, 60 s by default, is the engine's: ``engine/retry.py``). A
request with a stall time is sent with ``XMLHttpRequest``, because ``fetch`` cannot tell whether a request
body is moving: it has no upload progress, and a body given as a stream (``duplex: "half"``), whose reads
would show it, needs HTTP/2 in Chromium (over HTTP/1.1 the fetch rejects at once: measured, Chromium 156).
``XMLHttpRequest.upload`` fires ``progress`` as the network takes the body's bytes (at most every 50 ms,
when the count changed), which Chromium reports from its network service; both work in a worker. The
watchdog is JavaScript (``_XHR``), so a request costs Python one ``await``, like ``fetch``:

- the clock starts at the first progress event with bytes taken, not at ``send()``: a request waiting for
  one of the browser's six connections to the server takes none (Uppy's transloadit/uppy#1190);
- each progress event with a new count restarts it; once the body is all taken it keeps running until the
  answer's head arrives (``readyState`` 2), then stops (the answer's body is small; ``timeout`` bounds it);
- when it runs out the request is aborted and ``TransportError`` says so: the engine retries it.

What it cannot see: the operating system's send buffer takes the end of a body at once and sends it
later, so a body may look all taken long before it has left the machine (over loopback Chromium reported
a whole 2 MiB body taken in 0.12 s to a server that read it in 8.4 s); a stall is then seen as an answer
that does not come, which the same clock bounds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from frontend.browser.source import BlobSource
from frontend.engine.errors import TransportError
from frontend.engine.ports import FilePart, FileRange, FormBody, HttpRequest, HttpResponse, JsonBody

# AbortSignal.timeout + AbortSignal.any (Chromium 116, Firefox 124, Safari 17.4): the timeout without a timer
# on Python's event loop.
_BROWSER_TIMEOUTS = hasattr(js.AbortSignal, "any") and hasattr(js.AbortSignal, "timeout")

# XMLHttpRequest with a stall watchdog (see the module docstring). Returns ``{done, abort}``: ``done``
# resolves (never rejects) to ``{failure, status, text, taken}``, ``failure`` being "" (answered), "stall",
# "timeout", "network" or "abort" (a string either way: JavaScript's null is not Python's None in Pyodide);
# ``taken`` is how much of the body the network had taken.
_XHR = run_js(
    """(method, url, headers, body, timeoutMs, stallMs) => {
  const xhr = new XMLHttpRequest();
  let settle, timer, taken = 0, answered = false, settled = false;
  const done = new Promise((resolve) => { settle = resolve; });
  const end = (failure) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    settle({ failure, status: failure === "" ? xhr.status : 0,
             text: failure === "" ? xhr.responseText : "", taken });
  };
  xhr.open(method, url);
  for (const [name, value] of headers) xhr.setRequestHeader(name, value);
  if (timeoutMs > 0) xhr.timeout = timeoutMs;
  xhr.upload.onprogress = (event) => {
    if (answered || event.loaded === 0 || event.loaded === taken) return;
    taken = event.loaded;  // more of the body taken: progress
    clearTimeout(timer);
    timer = setTimeout(() => { end("stall"); xhr.abort(); }, stallMs);
  };
  xhr.onreadystatechange = () => {
    if (xhr.readyState >= XMLHttpRequest.HEADERS_RECEIVED && !answered) {
      answered = true;  // the answer's head: the clock stops
      clearTimeout(timer);
    }
  };
  xhr.onload = () => end("");
  xhr.onerror = () => end("network");
  xhr.ontimeout = () => end("timeout");
  xhr.onabort = () => end("abort");
  xhr.send(body);
  return { done, abort: () => xhr.abort() };
}"""
)


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
    """Implements ``frontend.engine.ports.Transport`` with the worker's ``fetch``, or its ``XMLHttpRequest``
    for a request with a body and a stall time (the engine's handshakes and chunks).

    Per request: one ``fetch`` and one ``text()`` (or one ``XMLHttpRequest``), nothing else scheduled on
    Python's event loop (under Pyodide each callback is a trip through the browser's): the timeouts are the
    browser's own (``AbortSignal.timeout``, joined with the abort used on cancellation; the XHR's
    ``timeout`` and its watchdog's ``setTimeout``), not Python timers."""

    async def request(self, req: HttpRequest) -> HttpResponse:
        js_body, content_type = await _js_body(req.body)
        if req.stall_timeout is not None and js_body is not None:
            return await self._watched(req, js_body, content_type, req.stall_timeout)
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
    async def _watched(
        req: HttpRequest, js_body: Any, content_type: str | None, stall: float
    ) -> HttpResponse:
        """``req`` sent with ``XMLHttpRequest``, given up after ``stall`` seconds without progress."""
        # One value per name (``setRequestHeader`` joins repeated names with ", "; ``Headers.set`` replaces).
        headers = {name.lower(): value for name, value in req.headers.items()}
        if content_type is not None:
            headers["content-type"] = content_type
        timeout_ms = 0 if req.timeout is None else max(1, round(req.timeout * 1000))
        js_exchange = _XHR(
            req.method,
            req.url,
            to_js(list(headers.items())),
            js_body,
            timeout_ms,
            max(1, round(stall * 1000)),
        )
        try:
            outcome = await js_exchange.done
        except asyncio.CancelledError:
            js_exchange.abort()  # the engine gave up on this request (e.g. cancel): stop sending its bytes
            raise
        failure = str(outcome.failure)
        if not failure:
            return HttpResponse(status=int(outcome.status), json_body=_decode_json(str(outcome.text)))
        if failure == "stall":
            raise TransportError(
                f"no progress for {stall:g} s, given up "
                f"({int(outcome.taken)} bytes of the body sent): {req.url}"
            )
        if failure == "timeout":
            raise TransportError(f"no answer within {req.timeout:g} s from {req.url}")
        raise TransportError(
            f"the request failed ({'aborted' if failure == 'abort' else 'network error'}): {req.url}"
        )

    @staticmethod
    async def _exchange(url: str, js_init: Any) -> HttpResponse:
        js_response = await js.fetch(url, js_init)
        text = await js_response.text()  # the body can fail too (connection cut mid-answer)
        return HttpResponse(status=int(js_response.status), json_body=_decode_json(text))
