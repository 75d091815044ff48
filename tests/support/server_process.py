"""Run the real server (``python -m server``) as a child process on a free port, and stop, kill or restart it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.waiting import wait_until

_URL = re.compile(r"serving on (http://\S+?)/? ")
ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """One server process over a data dir. ``restart()`` keeps the data dir and, by default, the port."""

    def __init__(self, data_dir: Path, *flags: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.flags = list(flags)
        self.env = env or {}
        self.url = ""
        self.port = 0
        self.log: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    def start(self, port: int = 0, timeout: float = 30.0) -> str:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        cmd = [
            sys.executable,
            "-m",
            "server",
            "--port",
            str(port),
            "--data-dir",
            str(self.data_dir),
            *self.flags,
        ]
        self._proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        ready = threading.Event()
        proc = self._proc

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.append(line.rstrip("\n"))
                match = _URL.search(line)
                if match and not ready.is_set():
                    self.url = match.group(1)
                    ready.set()
            ready.set()  # exited: wake the waiter

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout) or not self.url or proc.poll() is not None:
            self.stop()
            raise RuntimeError("server did not start:\n" + "\n".join(self.log))
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), as an operator would."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self, same_port: bool = True, hard: bool = True) -> str:
        port = self.port if same_port else 0
        self.kill() if hard else self.stop()
        deadline = time.monotonic() + 10
        while True:  # the old socket may linger for a moment after a kill
            try:
                self.url = ""
                return self.start(port)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise

    def assemblies(self, file_id: str) -> int:
        """How many times the server logged that it assembled (and published) this file."""
        return sum(f"assembled {file_id}" in line for line in self.log)

    def assembled(self, file_id: str) -> int:
        """``assemblies`` once the first such line has reached ``log`` (lines arrive through a pipe)."""
        wait_until(lambda: self.assemblies(file_id) >= 1, what=f"the log line for the assembly of {file_id}")
        return self.assemblies(file_id)

    def errors_logged(self) -> list[str]:
        """Log lines that show the server failed (tracebacks, ERROR level)."""
        return [line for line in self.log if "Traceback" in line or " ERROR " in line]
