"""Retry decisions and full-jitter backoff, deterministic through an injected random."""

from __future__ import annotations

import pytest

from frontend.engine.errors import EngineError, Err, ServerError, TransportError
from frontend.engine.retry import Action, RetryPolicy, classify


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (TransportError("offline"), Action.RETRY),
        (ServerError(500, "boom"), Action.RETRY),
        (ServerError(502, "the server answered HTTP 502"), Action.RETRY),
        (ServerError(503, "unavailable", "INTERNAL"), Action.RETRY),
        (ServerError(408, "timeout"), Action.RETRY),
        (ServerError(429, "too many", "TOO_MANY_UPLOADS"), Action.RETRY),
        (ServerError(422, "chunks 3, 7 do not match", "CHUNKS_DAMAGED"), Action.RESEND_DAMAGED),
        (ServerError(422, "some other 422"), Action.FAIL),
        (ServerError(422, "assembled file differs", "FILE_MISMATCH"), Action.FAIL),
        (ServerError(404, "no upload", "UNKNOWN_UPLOAD"), Action.REHANDSHAKE),
        (ServerError(404, "not found", "NOT_FOUND"), Action.FAIL),
        (ServerError(409, "other list", "CHUNK_LIST_CONFLICT"), Action.FAIL),
        (ServerError(413, "too large", "FILE_TOO_LARGE"), Action.FAIL),
        (ServerError(403, "请携带文件编号", "MISSING_FILE_ID"), Action.FAIL),
        (ServerError(400, "bad"), Action.FAIL),
        (EngineError(Err.BAD_RESPONSE), Action.FAIL),
        (EngineError(Err.FILE_CHANGED), Action.FAIL),
        (ValueError("a bug"), Action.FAIL),
    ],
)
def test_classify(error: BaseException, action: Action) -> None:
    assert classify(error) is action


def test_server_error_codes_prefer_the_servers_name() -> None:
    assert ServerError(422, "x", "CHUNKS_DAMAGED").code == "CHUNKS_DAMAGED"
    assert ServerError(502, "x").code == "HTTP_502"
    assert TransportError().code == "NETWORK" and TransportError().msg == Err.NETWORK.message


def test_ceilings_double_from_base_up_to_cap() -> None:
    policy = RetryPolicy(base=1.0, cap=30.0)
    assert [policy.ceiling(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.ceiling(10_000) == 30  # no overflow for an endless retry


def test_full_jitter_scales_the_ceiling_by_random() -> None:
    policy = RetryPolicy(base=0.5, cap=10.0)
    assert policy.delay(1, lambda: 0.0) == 0.0
    assert policy.delay(3, lambda: 0.5) == 1.0
    assert policy.delay(9, lambda: 0.999) == pytest.approx(9.99)
    values = iter([0.25, 0.75])
    assert [policy.delay(2, lambda: next(values)) for _ in range(2)] == [0.25, 0.75]


def test_gives_up_after_max_attempts_or_never() -> None:
    assert not RetryPolicy(max_attempts=3).gives_up(3)
    assert RetryPolicy(max_attempts=3).gives_up(4)
    assert not RetryPolicy(max_attempts=None).gives_up(10**6)
    with pytest.raises(ValueError):
        RetryPolicy().ceiling(0)
