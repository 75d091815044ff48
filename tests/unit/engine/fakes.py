"""Test doubles for the engine that are not part of it: a fake clock, and polling for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from frontend.engine.ports import Clock


class FakeClock:
    """Time that moves only when someone sleeps. ``random`` is fixed, so backoff waits are exact."""

    def __init__(self, random: float = 0.5) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.rnd = random
        self.on_sleep: Callable[[float], None] | None = None

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        await asyncio.sleep(0)

    def clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep, random=lambda: self.rnd)


async def until(condition: Callable[[], bool], what: str, steps: int = 10_000) -> None:
    """Let the event loop run until ``condition()`` holds (no wall-clock wait); fail after ``steps`` turns."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")
