"""Calling a browser method that answers a promise, so that its rejection always reaches Python.

Pyodide 314 cannot turn Chromium 156's ``QuotaExceededError`` (now a class of its own, derived from
``DOMException``) into a Python object, nor a rejection with a value that is no error at all: "TypeError:
invalid exception object" in its future helper, and the coroutine awaiting the promise never resumes. A
promise handed to Python is such a future already (measured under node: ``js.Promise.reject("x")`` fails so
before any of our code sees it; handing that promise back to JavaScript gives another promise, rejected with
a ``PythonError``). So the promise never reaches Python: ``call_settled`` has JavaScript call the method and
read its outcome into a plain object (the error's ``name`` and ``message`` as strings), and Python raises
``JsRejected`` from that. A method that throws at once is a rejection too, and so is a promise that does not
settle within the caller's ``timeout`` (a storage that never answers must not hold a download forever).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]


class JsRejected(Exception):
    """A promise was rejected; ``name`` is the JavaScript error's (``QuotaExceededError``, ``NotFoundError``...)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name


@functools.cache
def _call() -> Any:
    """``(target, method, args) -> Promise<{ok: true, value} | {ok: false, name, message}>``: it never rejects."""
    return js.Function.new(
        "target",
        "method",
        "args",
        "return Promise.resolve().then(() => target[method](...args)).then((value) => ({ ok: true, value }),"
        " (error) => ({ ok: false, name: String(error?.name ?? 'Error'), message: String(error?.message ?? error) }));",
    )


def js_object(**values: Any) -> Any:
    """A plain JavaScript object (an options bag: ``{create: true}``), not a ``Map``."""
    return to_js(values, dict_converter=js.Object.fromEntries)


async def call_settled(js_target: Any, method: str, *args: Any, timeout: float | None = None) -> Any:
    """``await js_target[method](*args)``; a rejection raises ``JsRejected``, and so does no answer within
    ``timeout`` seconds (named ``TimeoutError``)."""
    js_pending = _call()(js_target, method, to_js(list(args)))
    try:
        async with asyncio.timeout(timeout):
            js_outcome = await js_pending
    except TimeoutError as exc:
        raise JsRejected("TimeoutError", f"no answer to {method}() in {timeout:g} s") from exc
    if not js_outcome.ok:
        raise JsRejected(str(js_outcome.name), str(js_outcome.message))
    return js_outcome.value


async def opfs_folder(name: str, timeout: float | None = None) -> Any:
    """The folder ``name`` at the root of the origin's private file system (OPFS), made if missing."""
    js_root = await call_settled(js.navigator.storage, "getDirectory", timeout=timeout)
    return await call_settled(js_root, "getDirectoryHandle", name, js_object(create=True), timeout=timeout)
