"""The seed's JSON envelope ``{code, msg, data}``: the one place answers (and errors) are rendered.

An error answers a request of the IETF resumable-upload draft (marked ``PROBLEM_DETAILS``) as RFC 9457
``application/problem+json`` instead, with the draft's problem types where it defines one.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.errors import ApiError, E

PROBLEM_DETAILS = web.RequestKey("problem_details", bool)  # errors of this request: problem+json
_DRAFT_PROBLEMS = "https://iana.org/assignments/http-problem-types#"
_PROBLEM_TYPES = {
    E.OFFSET_MISMATCH: _DRAFT_PROBLEMS + "mismatching-upload-offset",
    E.UPLOAD_COMPLETE: _DRAFT_PROBLEMS + "completed-upload",
    E.INCONSISTENT_LENGTH: _DRAFT_PROBLEMS + "inconsistent-upload-length",
    E.PAST_UPLOAD_LENGTH: _DRAFT_PROBLEMS + "inconsistent-upload-length",
}

# Statuses outside RFC 9110 have no standard reason phrase; tus names its own.
_REASONS = {460: "Checksum Mismatch"}


def _json(
    payload: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
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
        content_type=content_type,
        charset="utf-8",
    )


def ok(data: Any) -> web.Response:
    return _json({"code": 0, "msg": "", "data": data})


def error(err: ApiError, headers: dict[str, str] | None = None, problem: bool = False) -> web.Response:
    if not problem:
        return _json(err.envelope(), err.status, headers)
    # RFC 9457 section 3.1: "type", "title", "status", "detail"; extension members from the error's data.
    payload: dict[str, Any] = {
        "type": _PROBLEM_TYPES.get(err.kind, "about:blank"),
        "title": err.kind.message,
        "status": err.status,
        "detail": err.msg,
        "error": err.kind.name,
    }
    if isinstance(err.data, dict):
        payload |= err.data
    return _json(payload, err.status, headers, content_type="application/problem+json")
