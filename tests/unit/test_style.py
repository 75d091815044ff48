"""The style gate: ruff (the version pinned in pyproject.toml) finds no lint problem and nothing to reformat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")


@pytest.mark.parametrize("args", [["check", "--output-format", "concise"], ["format", "--check"]], ids=str)
def test_ruff_finds_nothing(args: list[str]) -> None:
    if not RUFF.exists():
        pytest.fail(f"{RUFF} is missing: install the test extras (bash scripts/setup.sh)")
    result = subprocess.run([str(RUFF), *args, "."], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
