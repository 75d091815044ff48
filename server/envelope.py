"""The seed's JSON envelope ``{code, msg, data}``: the one place answers (and errors) are rendered."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.errors import ApiError

# Statuses outside RFC 9110 have no standard reason phrase; tus names its own.
_REASONS = {460: "Checksum Mismatch"}


def _json(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in some text: JSON's \u escapes carry what UTF-8 cannot
        body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return web.Response(
        body=body,
        status=status,
        reason=_REASONS.get(status),
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def ok(data: Any) -> web.Response:
    return _json({"code": 0, "msg": "", "data": data})


def error(err: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return _json(err.envelope(), err.status, headers)
