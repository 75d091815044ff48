"""The partial downloads' storage (``frontend/browser/opfs.py``) under Pyodide (node, offline), over a
storage that never answers: each call is given up after ``STORAGE_TIMEOUT``, so the download fails with
``STORAGE_FAILED`` (its row says what it was doing) instead of showing "downloading" with nothing moving;
listing what a previous page left finds nothing, and the space is "unknown" (the download then starts and
meets the storage's own answer)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.unit.engine.test_pyodide import run_pyodide

MOUNTS = ("frontend/engine", "wire", "frontend/browser/opfs.py", "frontend/browser/js_promise.py")

PY_HUNG = textwrap.dedent(
    """
    import json, time
    from pyodide.code import run_js

    run_js('''
    globalThis.asked = [];
    const never = (what) => () => { globalThis.asked.push(what); return new Promise(() => {}); };
    Object.defineProperty(globalThis, "navigator", {
      value: { storage: { getDirectory: never("getDirectory"), estimate: never("estimate") } },
      configurable: true });
    ''')

    from frontend.browser import opfs
    from frontend.engine.errors import EngineError

    opfs.STORAGE_TIMEOUT = 0.2
    out = {}
    began = time.monotonic()
    try:
        await opfs.OpfsPartialFile("k", lambda js_file, name: None).journal()
        out["journal"] = "answered"
    except EngineError as exc:
        out["journal"] = [exc.code, exc.msg]
    out["journal_seconds"] = time.monotonic() - began
    out["restored"] = await opfs.restore()
    out["space"] = await opfs.StorageEstimate().available()
    await opfs.OpfsPartialFile("k", lambda js_file, name: None).discard()  # nothing to remove: no error
    out["asked"] = list(run_js("globalThis.asked").to_py())
    json.dumps(out)
    """
)


def test_a_storage_that_never_answers_fails_the_download_in_time(tmp_path: Path) -> None:
    result = run_pyodide(tmp_path, PY_HUNG, MOUNTS)
    assert isinstance(result, dict)
    code, message = result["journal"]
    assert code == "STORAGE_FAILED", result
    assert "opening the downloads folder" in message and "no answer to getDirectory() in 0.2 s" in message
    assert 0.2 <= result["journal_seconds"] < 5
    assert result["restored"] == [] and result["space"] is None
    assert result["asked"] == ["getDirectory", "getDirectory", "estimate", "getDirectory"]
