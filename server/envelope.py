"""The seed's JSON envelope ``{code, msg, data}``: the one place answers (and errors) are rendered."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from server.errors import ApiError

_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def ok(data: Any) -> web.Response:
    return web.json_response({"code": 0, "msg": "", "data": data}, dumps=_dumps)


def error(err: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(err.envelope(), status=err.status, dumps=_dumps, headers=headers)
