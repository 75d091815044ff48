"""py-spy on our server while a benchmark drives it (``python -m bench --profile``), and what the profile says.

``py-spy record -f raw`` writes collapsed stacks ("frame;frame;frame count" per line); idle threads (waiting
on a lock, in ``epoll_wait``, ...) are left out by py-spy, so the samples show where CPU time goes.
``top_functions`` ranks functions by their self time: the share of samples in which they are the innermost
Python frame (time in C code they call, such as ``hashlib`` or ``os.write``, counts for them). py-spy's idle
detection misses some waits (a pool thread blocked on its queue, the loop in ``epoll_wait``): samples ending
in those frames are dropped before the shares are computed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLES_PER_SECOND = 200
# Innermost frames that mean "waiting", not working: an idle thread-pool worker, the event loop's select.
IDLE_FRAMES = frozenset(
    {
        "_worker (concurrent/futures/thread.py)",
        "EpollSelector.select (selectors.py)",
        "Condition.wait (threading.py)",
    }
)


def py_spy() -> str | None:
    beside_python = Path(sys.executable).with_name("py-spy")
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


class Profiler:
    """``py-spy record`` attached to a running process until it exits or ``finish()`` is called."""

    def __init__(self, pid: int, output: Path) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.output = output
        output.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--output",
                str(output),
                "--rate",
                str(SAMPLES_PER_SECOND),
                "--nolineno",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, timeout: float = 30.0) -> list[tuple[str, float]]:
        """Stop sampling (the output is written on SIGINT or when the target exits); the top functions."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if not self.output.exists():
            err = self._proc.stderr.read() if self._proc.stderr else ""
            return [(f"(no profile: {err.strip()[-200:]})", 0.0)]
        return top_functions(self.output.read_text())


def top_functions(collapsed: str, count: int = 12) -> list[tuple[str, float]]:
    """Functions by self time, as a share of the busy samples (0..1), highest first."""
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        if not stack or not samples.isdigit() or leaf in IDLE_FRAMES:
            continue
        total += int(samples)
        own[leaf] += int(samples)
    return [(name, n / total) for name, n in own.most_common(count)] if total else []
