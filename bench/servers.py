"""The servers the benchmarks drive, each as a process of its own: ours, the tus peer, nginx.

- ours: ``python -m server`` through ``tests.support.server_process.ServerProcess`` (the tests' own launcher),
  optionally under py-spy (``Context.profile_dir``);
- tus: ``bench/peers/tus_server.mjs`` (@tus/server + @tus/file-store, versions pinned in
  ``bench/peers/package-lock.json``; ``install_tus_peer`` runs ``npm ci`` there when needed);
- nginx (Debian): one process (``master_process off``) with ``sendfile on`` serving a folder at ``/download/``.

Each ``*_server`` is a context manager yielding something with ``pid`` and ``url`` and stopping it afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.model import Context
from bench.profiling import Profiler
from tests.support.server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / "peers"
TUS_SCRIPT = PEERS / "tus_server.mjs"
START_TIMEOUT = 30.0


# -- ours ------------------------------------------------------------------------------------------------------


@contextmanager
def our_server(ctx: Context, data_dir: Path, *flags: str, case: str = "") -> Iterator[ServerProcess]:
    """Our server on a free port; under py-spy when profiling and ``case`` was not profiled yet."""
    server = ServerProcess(data_dir, *flags)  # INFO: it logs the URL it serves on
    server.start()
    profile = ctx.profile_path(case) if case else None
    profiler = Profiler(server.pid, profile) if profile is not None else None
    try:
        yield server
    finally:
        server.stop()
        if profiler is not None:
            ctx.profiles[case] = profiler.finish()
        problems = server.errors_logged()
        if problems:
            ctx.log("our server logged errors:\n    " + "\n    ".join(problems[:20]))


def our_version() -> str:
    import aiohttp

    return f"our server (aiohttp {aiohttp.__version__})"


# -- processes that print their URL ------------------------------------------------------------------------------


@dataclass
class Spawned:
    """A child process whose output is collected (and searched for its URL) by a background thread."""

    proc: subprocess.Popen[str]
    url: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _spawn(cmd: list[str], cwd: Path, url_pattern: re.Pattern[str] | None) -> Spawned:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spawned = Spawned(proc)
    found = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            spawned.log.append(line.rstrip("\n"))
            match = url_pattern.search(line) if url_pattern else None
            if match and not found.is_set():
                spawned.url = match.group(1)
                found.set()
        found.set()  # exited: wake the waiter

    threading.Thread(target=pump, daemon=True).start()
    if url_pattern is not None:
        found.wait(START_TIMEOUT)
        if not spawned.url:
            spawned.stop()
            raise RuntimeError(f"{cmd[0]} did not start:\n" + "\n".join(spawned.log))
    return spawned


# -- the tus peer ------------------------------------------------------------------------------------------------

_TUS_URL = re.compile(r"listening on (http://\S+)")


def _tus_stamp() -> Path:
    return PEERS / "node_modules" / ".installed"


def tus_unavailable() -> str | None:
    """Why the tus peer cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    stamp = _tus_stamp()
    if not stamp.exists() or (PEERS / "package-lock.json").stat().st_mtime > stamp.stat().st_mtime:
        return "the npm packages of bench/peers are not installed (npm ci in bench/peers)"
    return None


def install_tus_peer() -> str | None:
    """``npm ci`` in bench/peers unless already done for this lock file; why it cannot run, or None."""
    if tus_unavailable() is None:
        return None
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm are not installed"
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEERS,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"npm ci in bench/peers failed: {done.stderr.strip()[-500:]}"
    _tus_stamp().touch()
    return None


def tus_version() -> str:
    versions = []
    for package in ("server", "file-store"):
        manifest = PEERS / "node_modules" / "@tus" / package / "package.json"
        found = re.search(r'"version":\s*"([^"]+)"', manifest.read_text()) if manifest.exists() else None
        versions.append(f"@tus/{package} {found.group(1) if found else '?'}")
    return " + ".join(versions) + f" (node {_output(['node', '--version']).lstrip('v')})"


@contextmanager
def tus_server(directory: Path) -> Iterator[Spawned]:
    directory.mkdir(parents=True, exist_ok=True)
    server = _spawn(["node", str(TUS_SCRIPT), "--port", "0", "--dir", str(directory)], PEERS, _TUS_URL)
    try:
        yield server
    finally:
        server.stop()


# -- nginx -------------------------------------------------------------------------------------------------------

_NGINX_CONF = """\
daemon off;
master_process off;   # one process: it accepts and serves, so its CPU is all of nginx's
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    # tcp_nopush stays off (its default): on, it holds the last packet of small keep-alive answers for the
    # peer's delayed ACK (~40 ms each), which would make nginx look slow on the random ranges.
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location /download/ {{ alias {folder}/; }}
    }}
}}
"""


def nginx_path() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def nginx_version() -> str:
    exe = nginx_path()
    text = _output([exe, "-v"]) if exe else ""  # "nginx version: nginx/1.22.1"
    return text.split(":", 1)[-1].strip().replace("/", " ") or "nginx"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def nginx_server(folder: Path, prefix: Path) -> Iterator[Spawned]:
    """nginx serving ``folder`` at ``/download/`` on a free port (``prefix`` holds its config and pid file)."""
    exe = nginx_path()
    if exe is None:
        raise RuntimeError("nginx is not installed")
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    for attempt in range(5):  # the free port may be taken between asking and binding
        port = _free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(prefix=prefix, port=port, folder=folder.resolve()))
        server = _spawn([exe, "-c", str(conf), "-p", str(prefix), "-e", "stderr"], prefix, None)
        deadline = time.monotonic() + START_TIMEOUT
        while server.proc.poll() is None and not _accepts(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if server.proc.poll() is None and _accepts(port):
            server.url = f"http://127.0.0.1:{port}"
            break
        server.stop()
        if attempt == 4:
            raise RuntimeError("nginx did not start:\n" + "\n".join(server.log))
    try:
        yield server
    finally:
        server.stop()


def _output(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()
