"""``ApiError.from_server_condition``: a full disk, however it shows, is 507; anything else is not mapped."""

from __future__ import annotations

import errno
import sqlite3

from server.errors import ApiError, E


def test_enospc_and_edquot_are_507() -> None:
    for code in (errno.ENOSPC, errno.EDQUOT):
        err = ApiError.from_server_condition(OSError(code, "No space left on device"))
        assert err is not None and err.kind is E.INSUFFICIENT_STORAGE and err.status == 507
        assert "No space left on device" in err.msg


def test_sqlite_full_is_507() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 3")  # a real SQLITE_FULL, as a full disk gives
    try:
        for _ in range(100):
            db.execute("INSERT INTO t VALUES (?)", (bytes(4096),))
    except sqlite3.Error as exc:
        err = ApiError.from_server_condition(exc)
    else:
        raise AssertionError("the table never filled")
    assert err is not None and err.kind is E.INSUFFICIENT_STORAGE
    assert "full" in err.msg


def test_other_errors_are_not_conditions() -> None:
    assert ApiError.from_server_condition(OSError(errno.EACCES, "Permission denied")) is None
    assert ApiError.from_server_condition(sqlite3.OperationalError("no such table: x")) is None
    assert ApiError.from_server_condition(ValueError("bug")) is None
