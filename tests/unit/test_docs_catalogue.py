"""docs/protocol.md's table of errors is the catalogue's (server/errors.py): told once in the code, shown in
the docs, and this test keeps the two from drifting apart."""

from __future__ import annotations

import re
from pathlib import Path

from server.errors import E

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_documented_catalogue_is_the_code_s() -> None:
    rows = re.findall(
        r"^\| `([A-Z_]+)` \| (\d+) \| (.+) \|$", PROTOCOL.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert rows == [(kind.name, str(kind.status), kind.message) for kind in E]
