"""A smoke run of every benchmark (``python -m bench --quick``), so the benchmarks do not rot.

Tiny sizes, one run, results written to a temporary folder: the test checks that each benchmark finishes and
hands back well-formed figures (JSON and Markdown), never how fast anything was (speed is what the benchmarks
report, not what tests assert). The peers are installed the way ``scripts/bench.sh`` does it (``npm ci`` in
``bench/peers``, skipped when already done); a benchmark may leave its peer out only when node/npm or nginx
are missing here, and must then say why.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import ROOT, discover
from bench.servers import install_tus_peer, nginx_path

BENCHMARKS = [b.name for b in discover()]


@pytest.fixture(scope="session")
def peers_missing() -> str | None:
    """Why some peer cannot run here (None: all can); installs the npm peers when needed."""
    reasons = [reason for reason in (install_tus_peer(),) if reason]
    if nginx_path() is None:
        reasons.append("nginx is not installed")
    return "; ".join(reasons) or None


def _check_stats(stats: dict[str, object], where: str) -> None:
    runs = stats["runs"]
    assert isinstance(runs, list) and len(runs) == 1, where
    assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in runs), (where, runs)
    assert stats["min"] <= stats["median"] <= stats["max"], where  # type: ignore[operator]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_quick_run_gives_well_formed_results(name: str, tmp_path: Path, peers_missing: str | None) -> None:
    docs = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            name,
            "--results-dir",
            str(tmp_path),
            "--docs",
            str(docs),
        ],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    [results_file] = tmp_path.glob("*.json")
    payload = json.loads(results_file.read_text())
    assert payload["quick"] is True and payload["runs"] == 1
    [result] = payload["benchmarks"]
    assert result["name"] == name and result["error"] is None
    assert result["figures"], "no figure measured"
    if result["peer"] is None:
        assert peers_missing, f"the peer was not measured although every peer is installed: {result['notes']}"
        assert any("not measured" in note for note in result["notes"]), result["notes"]
    for figure in result["figures"]:
        where = f"{name}: {figure['label']}"
        _check_stats(figure["ours"], where)
        if result["peer"] is not None and figure["target"] and figure["target"].endswith("x peer"):
            assert figure["peer"] is not None, where
        if figure["peer"] is not None:
            _check_stats(figure["peer"], where)
        assert figure["met"] in (True, False, None), where

    text = docs.read_text()
    begin, end = f"<!-- bench:{name} begin", f"<!-- bench:{name} end -->"
    assert text.count(begin) == 1 and text.count(end) == 1
    section = text[text.index(begin) : text.index(end)]
    assert (
        "| figure | ours: median [min-max] | peer: median [min-max] | ours/peer | target | met? |" in section
    )
    for figure in result["figures"]:
        assert f"| {figure['label']}" in section, figure["label"]
