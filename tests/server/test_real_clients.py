"""Real download clients against the real server: killed mid-download, resumed, and the result is exact.

``curl -C -``, ``wget -c`` and ``aria2c -x4`` each fetch a 64 MiB file at a limited rate, are killed (SIGKILL)
once part of it has arrived, then resume with their own resume option; the file's MD5 must equal the source's.
The name is Chinese (percent-encoded in the URL), as our users' names are.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.http_ranges import md5_of, write_random_file
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

SIZE = 64 * 1024 * 1024
KILL_AFTER = 12 * 1024 * 1024  # bytes on disk before the client is killed
RATE = (
    "16M"  # bytes per second while the first attempt runs: 4 s for the whole file, so the kill lands mid-way
)
NAME = "大文件 下载.bin"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/test.sh installs it)")
    return path


@pytest.fixture
def served(make_server: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A server whose downloads folder holds the big file: (URL, source MD5, a folder for the client).

    Clients killed mid-transfer must not make the server log errors."""
    folder = tmp_path / "served"
    folder.mkdir()
    md5 = write_random_file(folder / NAME, SIZE, seed=64)
    server = make_server("--downloads-dir", str(folder))
    out = tmp_path / "client"
    out.mkdir()
    yield f"{server.url}/download/{quote(NAME, safe='')}", md5, out
    assert server.errors_logged() == []


def allocated(path: Path) -> int:
    """Bytes actually written to ``path`` (aria2c writes segments into a sparse file)."""
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def start_and_kill(cmd: list[str], written: Callable[[], int], cwd: Path) -> None:
    """Run a client until ``written()`` passes KILL_AFTER, then SIGKILL it; it must not have finished."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(
            lambda: written() >= KILL_AFTER or proc.poll() is not None, timeout=60, what="a partial download"
        )
        assert proc.poll() is None, f"{cmd[0]} ended before it could be killed: {proc.stderr.read()!r}"  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (cmd, result.returncode, result.stdout, result.stderr)
    return result


def test_curl_resumes_with_c_dash(served: tuple[str, str, Path]) -> None:
    curl = need("curl")
    url, md5, out = served
    target = out / "file.bin"
    start_and_kill(
        [curl, "-sS", "--limit-rate", RATE, "-o", str(target), url], lambda: allocated(target), out
    )
    partial = target.stat().st_size
    assert 0 < partial < SIZE
    # curl -C - asks for "Range: bytes=<local size>-" with no validator and exits 33 if the server ignores it.
    result = run([curl, "-sS", "-C", "-", "-o", str(target), "-w", "%{http_code} %{size_download}", url], out)
    assert result.stdout == f"206 {SIZE - partial}"  # only the missing bytes travelled
    assert md5_of(target) == md5


def test_wget_resumes_with_c(served: tuple[str, str, Path]) -> None:
    wget = need("wget")
    url, md5, out = served
    target = out / "file.bin"
    start_and_kill(
        [wget, "-q", f"--limit-rate={RATE}", "-O", str(target), url], lambda: allocated(target), out
    )
    partial = target.stat().st_size
    assert 0 < partial < SIZE
    result = run([wget, "-c", "-S", "-O", str(target), url], out)
    assert (
        "206 Partial Content" in result.stderr
        and f"Content-Range: bytes {partial}-{SIZE - 1}/{SIZE}" in result.stderr
    )
    assert md5_of(target) == md5
    # Once complete, another "wget -c" gets 416 and knows the file is whole.
    result = run([wget, "-c", "-O", str(target), url], out)
    assert md5_of(target) == md5


def test_aria2c_resumes_four_connections(served: tuple[str, str, Path]) -> None:
    aria2c = need("aria2c")
    url, md5, out = served
    target = out / "file.bin"
    control = out / "file.bin.aria2"
    common = [aria2c, "-x4", "-s4", "--min-split-size=1M", "--dir", str(out), "--out", target.name]
    common += ["--file-allocation=none", "--auto-save-interval=1", "--console-log-level=warn"]
    # The control file records which segments are done; it is saved every second, so a SIGKILL loses little.
    start_and_kill(
        [*common, f"--max-overall-download-limit={RATE}", url],
        lambda: allocated(target) if control.exists() else 0,
        out,
    )
    assert control.exists() and allocated(target) < SIZE  # partial: segments still missing
    run([*common, "-c", url], out)
    assert not control.exists()  # aria2c removes it once the download is complete
    assert target.stat().st_size == SIZE
    assert md5_of(target) == md5
