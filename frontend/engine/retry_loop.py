"""The loop both engines run their steps in: try, and after a failure worth retrying wait and try again.

``retry.py`` decides what a failure means (``classify``) and how long to wait (``RetryPolicy``); this is the
one place that acts on it, for uploads (``uploader.py``) and downloads (``downloader.py``) alike:

- a step that fails with an error ``classify`` calls RETRY counts an attempt; past the policy's bound in a
  row it fails for good with ``RETRIES_EXHAUSTED`` (naming the last error);
- otherwise the engine shows RETRYING (``on_retrying``) with the error and the wait (``error``,
  ``retry_in``), and the loop waits the backoff, cut short by ``wake()``: the user paused, or asked to
  retry now (the page calls it when the browser comes back online);
- a pause ends the loop with ``PAUSED`` (before a wait, or after it): no new request starts, and the engine
  ends the run once its requests are in; otherwise the engine goes back to the step's phase
  (``on_resumed``) and the step runs again;
- any other error is the engine's to handle: it is raised as it came.

The attempt count is the engine's to reset (``fresh()``): a new run, and every bit of progress, gets the
whole budget again, so a transfer that moves between outages never gives up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from .errors import EngineError, Err
from .ports import Clock
from .retry import Action, RetryPolicy, classify

T = TypeVar("T")


class Paused(Enum):
    PAUSED = "paused"  # stopped by a pause; the run's requests are still to come in


PAUSED = Paused.PAUSED


class RetryLoop:
    """One engine's retries: the count, the error and the wait it shows, and the wait itself."""

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock
        self.attempt = 0  # failed attempts in a row
        self.error: EngineError | None = None  # the last one, shown while RETRYING (and FAILED)
        self.retry_in: float | None = None  # the wait under way, shown while RETRYING
        self._wake = asyncio.Event()

    def fresh(self) -> None:
        """A new run: no error shown, the whole retry budget."""
        self.error = None
        self.attempt = 0

    def wake(self) -> None:
        """End a backoff wait now (a pause, or "retry now")."""
        self._wake.set()

    async def run(
        self,
        step: Callable[[], Awaitable[T]],
        *,
        stopping: Callable[[], bool],
        on_retrying: Callable[[], None],
        on_resumed: Callable[[], None],
    ) -> T | Paused:
        """Run ``step`` until it succeeds (its value), fails for good (raised), or ``stopping()`` (PAUSED)."""
        while True:
            try:
                return await step()
            except EngineError as exc:
                if classify(exc) is not Action.RETRY:
                    raise
                if stopping():
                    return PAUSED
                self.attempt += 1
                if self.policy.gives_up(self.attempt):
                    raise EngineError(
                        Err.RETRIES_EXHAUSTED, f"gave up after {self.attempt} tries; last error: {exc.msg}"
                    ) from exc
                self.error = exc
                await self._backoff(self.policy.delay(self.attempt, self.clock.random), on_retrying, stopping)
                if stopping():
                    return PAUSED
                on_resumed()

    async def _backoff(
        self, delay: float, on_retrying: Callable[[], None], stopping: Callable[[], bool]
    ) -> None:
        self.retry_in = delay
        self._wake.clear()
        on_retrying()
        try:
            if stopping():  # a listener paused at once
                return
            sleeper = asyncio.ensure_future(self.clock.sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
        finally:
            self.retry_in = None
