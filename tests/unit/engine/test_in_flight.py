"""How many chunks an upload keeps in flight (``in_flight.py``): from the link's latency and bandwidth."""

from __future__ import annotations

import pytest

from frontend.engine.in_flight import InFlight

MiB = 1024 * 1024


def settle(
    link_latency: float, bandwidth: float, *, staggered: bool, most: int = 6, chunks: int = 12
) -> InFlight:
    """Feed ``InFlight`` what a link of that latency (s) and bandwidth (B/s) shows with its chunks of 1 MiB in
    flight: ``staggered``, one request waits out its latency while the others send (the best case); else
    all send at once, sharing the link, then all wait (the worst)."""
    pace = InFlight(least=3, most=most, chunk_size=MiB)
    pace.saw_request(link_latency + 2_000 / bandwidth)  # the handshake: a few KB
    for _ in range(chunks):
        k = pace.lanes
        if staggered:
            goodput = min(bandwidth, k * MiB / (link_latency + MiB / bandwidth))
            seconds = k * MiB / goodput
        else:
            seconds = link_latency + k * MiB / bandwidth
            goodput = k * MiB / seconds
        pace.chunk_answered(seconds, goodput, k)
    return pace


@pytest.mark.parametrize("staggered", [True, False])
def test_a_fast_local_link_keeps_the_configured_three(staggered: bool) -> None:
    assert settle(0.002, 100e6, staggered=staggered).lanes == 3


@pytest.mark.parametrize("staggered", [True, False])
def test_80_ms_at_40_mbit_takes_every_lane(staggered: bool) -> None:
    """The formula says 1 + 0.4 MB / 1 MiB = 1.4, but a latency worth 40 % of a chunk's transfer is past
    ``SPREAD``: measured, 6 in flight beat 3 there (the page's and server's turnaround add to it)."""
    assert settle(0.080, 5e6, staggered=staggered).lanes == 6


def test_a_small_latency_keeps_the_formula() -> None:
    assert settle(0.010, 20e6, staggered=False).lanes == 3  # 0.2 MB / 1 MiB: below SPREAD


@pytest.mark.parametrize("staggered", [True, False])
def test_200_ms_at_100_mbit_grows_to_cover_2_5_mb(staggered: bool) -> None:
    pace = settle(0.200, 12.5e6, staggered=staggered)
    assert pace.lanes >= 5  # 1 + 2.5 MB / 1 MiB = 3.4, plus a spare
    assert (pace.lanes - 1) * MiB >= 0.200 * 12.5e6


def test_never_more_than_the_most_nor_fewer_than_the_least() -> None:
    assert settle(2.0, 100e6, staggered=True).lanes == 6
    assert settle(2.0, 100e6, staggered=True, most=4).lanes == 4
    assert InFlight(least=5, most=2, chunk_size=MiB).lanes == 5


def test_pure_latency_asks_for_as_many_as_allowed() -> None:
    pace = InFlight(least=1, most=6, chunk_size=MiB)
    for _ in range(3):
        pace.chunk_answered(1.0, MiB / 1.0, 1)  # a second each, all of it waiting
    assert pace.lanes == 6


def test_nothing_changes_before_a_first_wave_was_answered() -> None:
    pace = InFlight(least=3, most=6, chunk_size=MiB)
    pace.saw_request(0.2)
    pace.chunk_answered(0.3, 1.0, 3)
    pace.chunk_answered(0.3, 1.0, 3)
    assert pace.lanes == 3


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_a_clock_that_did_not_move_teaches_nothing(seconds: float) -> None:
    pace = InFlight(least=3, most=6, chunk_size=MiB)
    pace.saw_request(seconds)
    assert pace.latency is None
