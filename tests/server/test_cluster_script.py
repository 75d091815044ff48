"""``scripts/cluster.sh``: one command starts PostgreSQL, SeaweedFS, N instances and nginx, and Ctrl-C stops them.

The script runs as a user would run it (``bash scripts/cluster.sh --instances 2``) on a free port, with its
data in a folder of its own; a file is uploaded through nginx with the seed's protocol and downloaded back,
whole and as a range; then SIGINT (what Ctrl-C sends) must stop every process the script started. A second
start over the same folder must still serve the file (PostgreSQL's and SeaweedFS's data are kept).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bench.cluster import descendants, free_port
from tests.support.seed_protocol import SeedClient, plan
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
_READY = re.compile(r"cluster ready: (http://\S+?)/?$")
START_TIMEOUT = 60.0  # set-up is a few stamps checked; the parts start in about 5 s on two cores


class Script:
    """``bash scripts/cluster.sh`` as a child process, its stdout watched for the URL."""

    def __init__(self, data: Path, log: Path, *args: str) -> None:
        self.log = log
        self.url = ""
        self._ready = threading.Event()
        with log.open("wb") as stderr:
            self.proc = subprocess.Popen(
                ["bash", "scripts/cluster.sh", "--data", str(data), *args],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = _READY.search(line.strip())
            if match:
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self) -> str:
        if not self._ready.wait(START_TIMEOUT) or not self.url:
            raise AssertionError(f"the cluster did not start; its output:\n{self.log.read_text()[-3000:]}")
        return self.url


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """The cluster's folder: outside pytest's private tmp_path, since PostgreSQL runs as nobody under root."""
    folder = Path(tempfile.mkdtemp(prefix="cluster-script-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie has exited; its parent (init, once the script is gone) reaps it


def _stop(script: Script) -> None:
    """SIGINT (Ctrl-C) to the script; every process it started must be gone once it has exited."""
    started = descendants(script.proc.pid)  # bash exec'd python: its children are the cluster's parts
    assert len(started) >= 5, started  # PostgreSQL (and its workers), weed, 2 instances, nginx
    script.proc.send_signal(signal.SIGINT)
    assert script.proc.wait(30) == 0, script.log.read_text()[-3000:]
    wait_until(lambda: all(_gone(pid) for pid in started), 5, "every process of the cluster to exit")


@pytest.mark.cluster
async def test_cluster_script_serves_through_nginx_stops_on_sigint_and_keeps_its_data(
    data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    args = ("--instances", "2", "--port", str(port))
    script = Script(data_dir, tmp_path / "first.log", *args)
    data = os.urandom(300_000)
    planned = plan(data, chunk_size=64 * 1024)  # 5 chunks: round robin sends them to both instances
    try:
        url = script.wait_ready()
        assert url == f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            client = SeedClient(session, url)
            await client.upload(planned)
            again = await client.handshake(planned)  # the file is there: the answer is its URL...
            assert again.status == 200, again.body
            assert again.data == f"{url}/upload/{planned.file_id}.bin"  # ...on nginx (--public-url)
            assert await client.get_bytes(again.data) == (200, data)
            async with session.get(again.data, headers={"Range": "bytes=1000-1999"}) as resp:
                assert (resp.status, await resp.read()) == (206, data[1000:2000])
        upstreams = set(re.findall(r"upstream=(\S+)", (data_dir / "nginx" / "access.log").read_text()))
        assert len(upstreams) == 2, upstreams  # no stickiness: both instances answered
        _stop(script)

        # A second start over the same folder finds the file (PostgreSQL's rows, SeaweedFS's objects).
        script = Script(data_dir, tmp_path / "second.log", *args)
        script.wait_ready()
        async with aiohttp.ClientSession() as session:
            assert await SeedClient(session, url).get_bytes(again.data) == (200, data)
        _stop(script)
    finally:
        if script.proc.poll() is None:
            script.proc.terminate()  # the cluster's own SIGTERM handling stops the parts
            script.proc.wait(30)
