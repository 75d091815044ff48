"""The page's memory for a 16 GiB file's chunk plan, measured where the page runs it: Pyodide (wasm32, node,
offline), with ``tracemalloc``. The plan holds ids and positions, never bytes: 16,384 chunks of 1 MiB take
about 3 MiB (Pyodide 314: 2.9 MiB with its id set; 3.6 MiB at the peak of building it, 5.2 MiB decoding it
from the plan the page remembers across a reload). CPython's 64-bit objects take about 5 MiB
(``tests/unit/test_plan_cache.py``). Bounds, not speeds: a plan that held a copy of the file's bytes, or
grew per chunk by more than a few hundred bytes, fails here."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.unit.engine.test_pyodide import run_pyodide

PY_MEMORY = textwrap.dedent(
    """
    import hashlib, json, tracemalloc
    from frontend.engine.chunking import ChunkPlan
    from frontend.engine.plan_cache import FileKey, decode_plan, encode_plan

    size, mib = 16 * 1024**3, 1024 * 1024
    ids = [hashlib.md5(str(i).encode()).hexdigest() + str(i) for i in range(size // mib)]
    tracemalloc.start()
    plan = ChunkPlan.from_dict({"fileId": "0" * 32, "ext": ".bin", "size": size, "chunkSize": mib, "chunkIds": ids})
    plan.id_set
    built, built_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    key = FileKey("a-16-GiB-file.bin", size, 1.0)
    raw = encode_plan(key, plan)
    del plan, ids
    tracemalloc.start()
    decoded = decode_plan(key, raw)
    decoded.id_set
    held, decode_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    json.dumps({"chunks": len(decoded.chunks), "built": built, "built_peak": built_peak, "held": held,
                "decode_peak": decode_peak, "remembered": len(raw)})
    """
)


def test_a_16_gib_plan_takes_a_few_mib_under_pyodide(tmp_path: Path) -> None:
    result = run_pyodide(tmp_path, PY_MEMORY, ("frontend/engine", "wire"))
    assert isinstance(result, dict)
    mib = 1024 * 1024
    print(
        f"\nPyodide, 16 GiB file ({result['chunks']:,} chunks): plan {result['built'] / mib:.1f} MiB "
        f"(peak {result['built_peak'] / mib:.1f}), decoded from the remembered {result['remembered']:,} B: "
        f"{result['held'] / mib:.1f} MiB (peak {result['decode_peak'] / mib:.1f})"
    )
    assert result["chunks"] == 16_384
    assert result["built"] < 8 * mib and result["held"] < 8 * mib  # about 190 B per chunk
    assert result["built_peak"] < 12 * mib and result["decode_peak"] < 12 * mib
