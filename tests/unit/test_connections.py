"""``ThrottledLog``: one line per interval and kind of event, with how many happened."""

from __future__ import annotations

import logging

import pytest

from server.connections import ThrottledLog, usable_connections


def test_one_line_per_interval_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttled = ThrottledLog(interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="server.connections"):
        for _ in range(500):
            throttled.event("cap", "refused")
        now[0] += 10.0
        throttled.event("cap", "refused")
        throttled.event("accept", "accept failed")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "refused (1 time(s) in the last 10 s)",
        "refused (500 time(s) in the last 10 s)",
        "accept failed (1 time(s) in the last 10 s)",
    ]


def test_a_cap_that_fits_the_open_files_limit_is_kept() -> None:
    assert usable_connections(100) == 100
