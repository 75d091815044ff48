"""``frontend/engine/retry_loop.py``: the retry loop both engines run their steps in, on its own (the
engines' own tests drive it through uploads and downloads)."""

from __future__ import annotations

import asyncio

import pytest

from frontend.engine.errors import EngineError, Err, TransportError
from frontend.engine.ports import Clock
from frontend.engine.retry import RetryPolicy
from frontend.engine.retry_loop import PAUSED, RetryLoop
from tests.support.engine_doubles import FakeClock, until


class Steps:
    """A step that fails with the given errors, in turn, then answers "done"; and what the loop showed."""

    def __init__(self, *errors: EngineError) -> None:
        self.errors = list(errors)
        self.runs = 0
        self.shown: list[str] = []
        self.stopping = False

    async def step(self) -> str:
        self.runs += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"

    async def run(self, loop: RetryLoop) -> object:
        def retrying() -> None:
            self.shown.append(
                f"retrying {loop.attempt} in {loop.retry_in} ({loop.error.msg if loop.error else None})"
            )

        return await loop.run(
            self.step,
            stopping=lambda: self.stopping,
            on_retrying=retrying,
            on_resumed=lambda: self.shown.append("resumed"),
        )


def offline() -> TransportError:
    return TransportError("offline")


async def waiting_after(error: EngineError) -> tuple[RetryLoop, Steps, asyncio.Future[object]]:
    """A loop whose step failed with ``error`` once, now in a backoff wait that only ``wake()`` ends."""

    async def sleep_forever(_: float) -> None:
        await asyncio.Event().wait()

    fake = FakeClock()
    loop = RetryLoop(RetryPolicy(), Clock(now=fake.now, sleep=sleep_forever, random=lambda: 0.5))
    steps = Steps(error)
    running = asyncio.ensure_future(steps.run(loop))
    await until(lambda: loop.retry_in is not None, "the backoff wait")
    return loop, steps, running


async def test_retryable_errors_wait_a_backoff_each_and_the_step_runs_again() -> None:
    fake = FakeClock(random=0.5)
    loop = RetryLoop(RetryPolicy(base=1.0, cap=30.0), fake.clock())
    steps = Steps(offline(), offline())
    assert await steps.run(loop) == "done"
    assert steps.runs == 3
    assert fake.sleeps == [0.5, 1.0]  # full jitter at random 0.5: half of 1 s, then of 2 s
    assert steps.shown == [
        "retrying 1 in 0.5 (offline)",
        "resumed",
        "retrying 2 in 1.0 (offline)",
        "resumed",
    ]
    assert loop.retry_in is None and loop.attempt == 2  # the engine resets the count on progress


async def test_past_the_bound_in_a_row_it_fails_for_good_naming_the_last_error() -> None:
    loop = RetryLoop(RetryPolicy(base=0.01, max_attempts=3), FakeClock().clock())
    steps = Steps(*(offline() for _ in range(5)))
    with pytest.raises(EngineError) as failed:
        await steps.run(loop)
    assert failed.value.kind is Err.RETRIES_EXHAUSTED
    assert "gave up after 4 tries; last error: offline" in failed.value.msg
    assert steps.runs == 4  # the first try and 3 retries


async def test_fresh_gives_the_whole_budget_again() -> None:
    loop = RetryLoop(RetryPolicy(base=0.01, max_attempts=1), FakeClock().clock())
    assert await Steps(offline()).run(loop) == "done"
    with pytest.raises(EngineError):
        await Steps(offline()).run(loop)  # the second failure in a row: one too many
    loop.fresh()
    assert (loop.attempt, loop.error) == (0, None)
    assert await Steps(offline()).run(loop) == "done"


async def test_an_error_not_worth_retrying_is_raised_as_it_came() -> None:
    loop = RetryLoop(RetryPolicy(), FakeClock().clock())
    refused = EngineError(Err.READ_FAILED, "cannot read it")
    with pytest.raises(EngineError) as failed:
        await Steps(refused).run(loop)
    assert failed.value is refused and loop.attempt == 0


async def test_a_pause_during_the_wait_ends_it_at_once_and_the_loop_with_paused() -> None:
    loop, steps, running = await waiting_after(offline())
    steps.stopping = True
    loop.wake()
    assert await running is PAUSED
    assert steps.runs == 1 and "resumed" not in steps.shown and loop.retry_in is None


async def test_wake_cuts_the_wait_short_and_the_step_runs_again() -> None:
    loop, steps, running = await waiting_after(offline())
    loop.wake()  # "retry now": the browser is online again
    assert await running == "done"
    assert steps.runs == 2


async def test_paused_before_the_wait_nothing_is_waited() -> None:
    fake = FakeClock()
    loop = RetryLoop(RetryPolicy(), fake.clock())
    steps = Steps(offline())
    steps.stopping = True
    assert await steps.run(loop) is PAUSED
    assert fake.sleeps == [] and steps.shown == []
