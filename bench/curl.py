"""curl as the download client: many transfers in one process (one keep-alive connection), each measured.

``fetch`` hands curl a config (``curl --config -``) with one block per transfer, separated by ``next``; curl
reuses its connection across them ("curl will attempt to reuse connections for multiple transfers").
Bodies go to /dev/null; ``--write-out`` reports each transfer's status, body size, time, new connections
and content type.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

WRITE_OUT = r"%{http_code} %{size_download} %{time_total} %{num_connects} %{content_type}\n"


@dataclass(frozen=True)
class Transfer:
    status: int
    size: int  # body bytes received
    seconds: float
    connects: int  # new connections this transfer opened (0: reused)
    content_type: str


def available() -> bool:
    return shutil.which("curl") is not None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch(url: str, ranges: list[str | None]) -> list[Transfer]:
    """GET ``url`` once per entry of ``ranges`` (a ``Range`` value without ``bytes=``, or None for the whole)."""
    blocks = []
    for value in ranges:
        block = [f"url = {_quoted(url)}", 'output = "/dev/null"', f"write-out = {_quoted(WRITE_OUT)}"]
        if value is not None:
            block.append(f"range = {_quoted(value)}")
        blocks.append("\n".join(block))
    config = "\nnext\n".join(blocks) + "\n"
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--config", "-"],
        input=config,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"curl failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    transfers = []
    for line in done.stdout.splitlines():
        status, size, seconds, connects, *content_type = line.split(" ", 4)
        transfers.append(
            Transfer(
                int(status), int(size), float(seconds), int(connects), content_type[0] if content_type else ""
            )
        )
    if len(transfers) != len(ranges):
        raise RuntimeError(f"curl reported {len(transfers)} transfers, {len(ranges)} were asked for")
    return transfers
