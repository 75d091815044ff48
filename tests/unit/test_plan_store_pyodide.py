"""The page's store of remembered chunk plans (``frontend/browser/plan_store.py``) under Pyodide (node,
offline), over storages that fail as browsers' do: one that never answers (Playwright's build of Chromium
156 over a tiny quota) and one that rejects (``QuotaExceededError``). Nothing reaches the person: the files
are hashed, the log has one quiet line per operation, and a storage that hung is not asked again."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.unit.engine.test_pyodide import run_pyodide

MOUNTS = ("frontend/engine", "wire", "frontend/browser/plan_store.py", "frontend/browser/js_promise.py")

# ``hang``: getDirectoryHandle never settles; ``reject``: it rejects with the quota's DOMException.
PY_STORE = textwrap.dedent(
    """
    import asyncio, json, logging
    from pyodide.code import run_js

    run_js('''
    globalThis.asked = 0;
    const failure = "%(failure)s";
    const getDirectoryHandle = () => {
      globalThis.asked += 1;
      return failure === "hang"
        ? new Promise(() => {})
        : Promise.reject(new DOMException("over the quota", "QuotaExceededError"));
    };
    Object.defineProperty(globalThis, "navigator", {
      value: { storage: { getDirectory: async () => ({ getDirectoryHandle }) } }, configurable: true });
    ''')

    from frontend.browser import plan_store
    from frontend.engine.chunking import ChunkPlan
    from frontend.engine.plan_cache import FileKey, Limits

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append([record.levelname, record.getMessage(), bool(record.exc_info)])

    logger = logging.getLogger(plan_store.__name__)
    logger.addHandler(Keep())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    plan_store.TIMEOUT = 0.5

    store = plan_store.PlanStore(Limits(ttl=3600))
    key = FileKey("a.bin", 3, 1.0)
    plan = ChunkPlan.from_dict(
        {"fileId": "0" * 32, "ext": ".bin", "size": 3, "chunkSize": 1048576, "chunkIds": ["1" * 32 + "0"]})
    restored, loaded = await asyncio.gather(store.restore(), store.load(key))  # load waits for restore
    saved = await store.save(key, plan)
    again = await store.load(key)
    await store.touch(key, 3)
    await store.forget(key)
    json.dumps({
        "restored": restored, "loaded": loaded is None, "saved": saved, "again": again is None,
        "asked": run_js("globalThis.asked"), "records": records,
    })
    """
)


def run_store(tmp_path: Path, failure: str) -> dict:
    result = run_pyodide(tmp_path, PY_STORE % {"failure": failure}, MOUNTS)
    assert isinstance(result, dict)
    return result


def test_a_storage_that_never_answers_is_given_up_after_its_first_timeout(tmp_path: Path) -> None:
    result = run_store(tmp_path, "hang")
    assert (result["restored"], result["loaded"], result["saved"], result["again"]) == ([], True, False, True)
    assert result["asked"] == 1  # the load that waited behind it, and all later ones, did not ask again
    logged = [(level, message) for level, message, traceback in result["records"] if level != "DEBUG"]
    assert logged[0] == ("INFO", "reading the remembered plans failed: no answer in 0.5 s")
    assert {level for level, _ in logged} == {"INFO"}
    assert not any(traceback for level, _, traceback in result["records"] if level != "DEBUG")
    assert len(logged) == 6  # restore, load, save, load, touch, forget: one line each
    # The load that waited behind the restore ran out of its time with it; the later ones did not wait.
    assert all("the storage did not answer earlier" in message for _, message in logged[2:]), logged


def test_a_full_storage_is_asked_each_time_and_logged_quietly(tmp_path: Path) -> None:
    result = run_store(tmp_path, "reject")
    assert (result["restored"], result["loaded"], result["saved"], result["again"]) == ([], True, False, True)
    assert result["asked"] >= 6  # not given up: a full storage may have room again after a clean-up
    assert {level for level, _, _ in result["records"] if level != "DEBUG"} == {"INFO"}
    assert not any(traceback for level, _, traceback in result["records"] if level != "DEBUG")
