"""The download engine runs under Pyodide (Python 3.14, node, offline) as it does under CPython: a download
with a damaged segment and a cut connection, over the in-memory doubles."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

from tests.unit.engine.test_pyodide import MOUNTS, run_pyodide

PY_DOWNLOAD = textwrap.dedent(
    """
    import json, sys
    from frontend.engine.downloader import DownloadConfig, DownloadController
    from frontend.engine.retry import RetryPolicy
    from tests.support.download_doubles import (
        DFault, MemoryFileServer, MemoryPartialFile, MemoryStreamTransport)

    data = bytes(range(256)) * 9000 + b"tail"  # 2.2 MiB
    transport = MemoryStreamTransport(MemoryFileServer(), piece_size=65536)
    transport.server.put("/download/a.bin", data)
    transport.inject(DFault("corrupt", start=512 * 1024), DFault("cut", start=1024 * 1024, after=70000))
    file = MemoryPartialFile()
    config = DownloadConfig(segment_size=512 * 1024, retry=RetryPolicy(base=0.01, cap=0.01))
    ctl = DownloadController("http://files.test/download/a.bin", transport, file, config=config)
    snap = await ctl.download()
    json.dumps({
        "state": snap.state.value,
        "verified": list(snap.verified),
        "refetched": snap.refetched,
        "sha256": __import__("hashlib").sha256(file.delivered[0][1]).hexdigest(),
        "max_in_flight": transport.max_in_flight,
    })
    """
)


def test_the_download_engine_runs_under_pyodide(tmp_path: Path) -> None:
    result = run_pyodide(tmp_path, PY_DOWNLOAD, (*MOUNTS, "tests/support/download_doubles.py"))
    data = bytes(range(256)) * 9000 + b"tail"
    assert result == {
        "state": "finish",
        "verified": ["sha-256"],
        "refetched": 1,
        "sha256": hashlib.sha256(data).hexdigest(),
        "max_in_flight": 3,
    }
