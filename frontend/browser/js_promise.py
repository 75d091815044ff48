"""Awaiting a browser promise from Python so that its rejection always reaches Python.

Pyodide 314 cannot turn Chromium 156's ``QuotaExceededError`` (now a class of its own, derived from
``DOMException``) into a Python object: "TypeError: invalid exception object" in its future helper (also when
the error is an argument of a Python callback), and the coroutine awaiting the promise never resumes. So a
storage promise is awaited through ``settled``: JavaScript reads the outcome into a plain object first (the
error's ``name`` and ``message`` as strings), and Python raises ``JsRejected`` from that. Synchronous calls
that throw (a sync access handle's ``truncate``) reach Python as ``JsException`` and are unaffected.
"""

from __future__ import annotations

import functools
from typing import Any

import js  # type: ignore[import-not-found]


class JsRejected(Exception):
    """A promise was rejected; ``name`` is the JavaScript error's (``QuotaExceededError``, ``NotFoundError``...)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name


@functools.cache
def _outcome() -> Any:
    """``promise -> Promise<{ok, value} | {ok: false, name, message}>``, a promise that never rejects."""
    return js.Function.new(
        "promise",
        "return promise.then((value) => ({ ok: true, value }), (error) => ({ ok: false,"
        " name: String(error?.name ?? 'Error'), message: String(error?.message ?? error) }));",
    )


async def settled(js_promise: Any) -> Any:
    """The promise's value; a rejection raises ``JsRejected``."""
    js_outcome = await _outcome()(js_promise)
    if not js_outcome.ok:
        raise JsRejected(str(js_outcome.name), str(js_outcome.message))
    return js_outcome.value
