"""Percent by bytes and by chunks (the seed's ceil), speed over a moving window, ETA."""

from __future__ import annotations

import pytest

from frontend.engine.progress import RateMeter, byte_percent, chunk_percent, eta


def test_byte_percent() -> None:
    assert byte_percent(0, 200) == 0.0
    assert byte_percent(50, 200) == 25.0
    assert byte_percent(200, 200) == 100.0
    assert byte_percent(0, 0) == 0.0  # an empty file: nothing to show until it is finished
    assert byte_percent(0, 0, finished=True) == 100.0


def test_chunk_percent_is_the_seeds_ceil() -> None:
    # Math.ceil(((total - needs.length) / total) * 100)
    assert chunk_percent(1, 3) == 34
    assert chunk_percent(2, 3) == 67
    assert chunk_percent(0, 3) == 0
    assert chunk_percent(3, 3) == 100
    assert chunk_percent(1, 1000) == 1
    assert chunk_percent(0, 0) == 0


def test_eta() -> None:
    assert eta(1000, 100.0) == 10.0
    assert eta(1000, None) is None
    assert eta(1000, 0.0) is None
    assert eta(0, None) == 0.0


def test_rate_over_a_moving_window() -> None:
    meter = RateMeter(window=5.0)
    meter.reset(0.0, 0)
    assert meter.rate(0.0) is None  # one sample: nothing to measure
    meter.add(1.0, 100)
    assert meter.rate(1.0) == 100.0
    for t in range(2, 11):
        meter.add(float(t), 100 * t)
    assert meter.rate(10.0) == pytest.approx(100.0)
    meter.add(11.0, 100 * 10 + 1000)  # a burst: the window forgets the old pace within 5 s
    assert meter.rate(11.0) == pytest.approx((2000 - 600) / 5)
    assert meter.rate(21.0) == pytest.approx((2000 - 600) / 15)  # a stall: the speed falls, the ETA grows


def test_rate_needs_time_to_pass() -> None:
    meter = RateMeter()
    meter.add(3.0, 0)
    meter.add(3.0, 100)
    assert meter.rate(3.0) is None
    with pytest.raises(ValueError):
        RateMeter(window=0)
