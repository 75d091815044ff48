"""Logging set-up: one line per event, and malformed requests (a client's fault) logged without a traceback."""

from __future__ import annotations

import logging
import sys

from aiohttp.http_exceptions import HttpProcessingError


class ClientErrorFilter(logging.Filter):
    """aiohttp logs requests it cannot even parse (a header over 8190 bytes, a broken request line) at ERROR
    with a traceback. They were answered with a 4xx and are the client's fault: keep one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "%s (answered %d): %s", (record.getMessage(), exc.code, exc.message)
            record.exc_info = record.exc_text = None
        return True


def configure(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("aiohttp.server").addFilter(ClientErrorFilter())
