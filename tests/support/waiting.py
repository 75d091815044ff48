"""Waiting for a condition (never a fixed sleep): poll until true, fail with a message after a timeout."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


async def async_wait_until(
    condition: Callable[[], object | Awaitable[object]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Like ``wait_until`` without blocking the event loop; ``condition`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while not await _value(condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def _value(result: object) -> object:
    return await result if inspect.isawaitable(result) else result
