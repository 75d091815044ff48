"""The engine is pure: stdlib imports only (and the shared ``wire`` rules, pure too), and it runs under
Pyodide (Python 3.14, node, offline)."""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENGINE = ROOT / "frontend" / "engine"
WIRE = ROOT / "wire"
NODE = "/usr/bin/node"
RUNNER = Path(__file__).with_name("pyodide_run.mjs")
# Where the page puts them (server/page.py), the engine's test doubles beside, and the engine once more on its
# own as ``engine``.
MOUNTS = (
    "frontend/engine",
    "wire",
    "tests/support/engine_doubles.py",
    "tests/support/memory_server.py",
    "frontend/engine=engine",
)


def run_pyodide(tmp_path: Path, code: str, mounts: tuple[str, ...] = MOUNTS) -> object:
    """Run ``code`` (its last expression: a JSON string) under Pyodide in node; what it returns, decoded."""
    script = tmp_path / "script.py"
    script.write_text(code)
    out = subprocess.run(
        [NODE, str(RUNNER), str(ROOT), str(script), *mounts],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", sorted(p.name for p in ENGINE.glob("*.py")))
def test_engine_modules_import_only_the_stdlib_each_other_and_wire(module: str) -> None:
    outside = imported_modules(ENGINE / module) - set(sys.stdlib_module_names) - {"__future__", "wire"}
    assert outside == set(), f"{module} imports {outside}: the engine must stay pure (no js/pyodide/pyscript)"


@pytest.mark.parametrize("module", sorted(p.name for p in WIRE.glob("*.py")))
def test_wire_modules_import_only_the_stdlib_and_each_other(module: str) -> None:
    outside = imported_modules(WIRE / module) - set(sys.stdlib_module_names) - {"__future__", "wire"}
    assert outside == set(), f"{module} imports {outside}: the server and the page share it, so it stays pure"


PY_UPLOAD = textwrap.dedent(
    """
    import json, sys
    from frontend.engine import UploadConfig, UploadController, RetryPolicy, hash_file
    from tests.support.engine_doubles import BytesSource, StreamingBytesSource
    from tests.support.memory_server import Fault, MemoryTransport
    import engine  # the same folder mounted on its own: its modules import each other relatively

    data = bytes(range(256)) * 9000 + b"tail"  # 2.2 MiB: 3 chunks of the default 1 MiB
    plan = await hash_file(StreamingBytesSource(data, "a.bin", piece_sizes=[300000]))
    transport = MemoryTransport()
    transport.inject(Fault("corrupt", chunk_index=1), Fault("network", path="/api/upload", skip=1))
    config = UploadConfig(retry=RetryPolicy(base=0.01, cap=0.01))
    ctl = UploadController(BytesSource(data, "a.bin"), transport, base_url="http://memory.test",
                           config=config)
    snap = await ctl.upload()
    json.dumps({
        "version": list(sys.version_info[:2]),
        "state": snap.state.value,
        "file_id": plan.file_id,
        "chunk_ids": plan.chunk_ids,
        "stored": transport.server.files.get(plan.file_id) == data,
        "max_in_flight": transport.max_chunks_in_flight,
        "mounted_file_id": (await engine.hash_file(BytesSource(data, "a.bin"))).file_id,
    })
    """
)


def test_the_engine_runs_under_pyodide(tmp_path: Path) -> None:
    result = run_pyodide(tmp_path, PY_UPLOAD)
    assert isinstance(result, dict)
    data = bytes(range(256)) * 9000 + b"tail"
    mib = 1024 * 1024
    assert result["version"][0] == 3 and result["version"][1] >= 13
    assert result["state"] == "finish"
    assert result["stored"] is True
    assert result["max_in_flight"] == 3
    assert result["file_id"] == result["mounted_file_id"] == hashlib.md5(data).hexdigest()
    assert result["chunk_ids"] == [
        hashlib.md5(data[i : i + mib]).hexdigest() + str(i // mib) for i in range(0, len(data), mib)
    ]
