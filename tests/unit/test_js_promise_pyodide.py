"""``frontend/browser/js_promise.py`` under Pyodide (node, offline): whatever a promise rejects with (an
error, a ``DOMException``, a plain string, later or at once, or a method that throws), Python gets
``JsRejected`` with the error's name, and a promise that never settles is given up after its timeout;
values come through as they are."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.unit.engine.test_pyodide import run_pyodide

PY_CASES = textwrap.dedent(
    """
    import json
    import js
    from pyodide.code import run_js
    from frontend.browser.js_promise import JsRejected, call_settled

    run_js('''
    globalThis.later = () => new Promise((_, reject) => setTimeout(() => reject("later"), 10));
    globalThis.full = async () => { throw new DOMException("over the quota", "QuotaExceededError"); };
    globalThis.throws = () => { throw new TypeError("at once"); };
    globalThis.count = async (bytes, text) => { bytes[0] = text.length; return bytes; };
    globalThis.never = () => new Promise(() => {});
    globalThis.soon = () => new Promise((resolve) => setTimeout(() => resolve("soon"), 10));
    ''')
    steps = run_js('(async function* () { yield "a.j0"; })()')
    cases = {
        "plain": lambda: call_settled(js.Promise, "reject", "plain"),
        "error": lambda: call_settled(js.Promise, "reject", js.Error.new("boom")),
        "later": lambda: call_settled(js.globalThis, "later"),
        "quota": lambda: call_settled(js.globalThis, "full"),
        "throws": lambda: call_settled(js.globalThis, "throws"),
        "text": lambda: call_settled(js.Promise, "resolve", "text"),
        "bytes": lambda: call_settled(js.globalThis, "count", js.Uint8Array.new(2), "abc"),
        "step": lambda: call_settled(steps, "next"),
        "end": lambda: call_settled(steps, "next"),
        "never": lambda: call_settled(js.globalThis, "never", timeout=0.05),
        "soon": lambda: call_settled(js.globalThis, "soon", timeout=5),
    }
    out = {}
    for name, case in cases.items():
        try:
            value = await case()
        except JsRejected as exc:
            out[name] = ["rejected", exc.name, str(exc)]
            continue
        if name == "bytes":
            value = list(value.to_py())
        elif name in ("step", "end"):
            value = [value.done, None if value.done else str(value.value)]
        out[name] = ["value", value]
    json.dumps(out)
    """
)


def test_every_rejection_reaches_python_with_its_name(tmp_path: Path) -> None:
    result = run_pyodide(tmp_path, PY_CASES, ("frontend/browser/js_promise.py",))
    assert result == {
        "plain": ["rejected", "Error", "Error: plain"],
        "error": ["rejected", "Error", "Error: boom"],
        "later": ["rejected", "Error", "Error: later"],
        "quota": ["rejected", "QuotaExceededError", "QuotaExceededError: over the quota"],
        "throws": ["rejected", "TypeError", "TypeError: at once"],
        "text": ["value", "text"],
        "bytes": ["value", [3, 0]],
        "step": ["value", [False, "a.j0"]],
        "end": ["value", [True, None]],
        "never": ["rejected", "TimeoutError", "TimeoutError: no answer to never() in 0.05 s"],
        "soon": ["value", "soon"],
    }
