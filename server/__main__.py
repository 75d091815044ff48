"""``python -m server``: run the server until SIGINT/SIGTERM, logging the URL it serves on."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from server import logs
from server.app import create_app
from server.connections import listen
from server.metrics import METRICS
from server.settings import Settings, parse_settings

log = logging.getLogger("server")


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=False,
        keepalive_timeout=settings.idle_timeout_seconds,
    )
    await runner.setup()
    listener = await listen(
        runner, settings.host, settings.port, settings.max_connections, settings.header_timeout_seconds
    )
    server = runner.server
    assert server is not None
    app[METRICS].count_connections = lambda: len(server.connections)
    host, port = listener.sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log.info("serving on http://%s:%d/ (data in %s)", shown, port, settings.data_dir.resolve())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        listener.close()  # no new connections; then the open ones are shut down
        await runner.cleanup()
        await listener.wait_closed()


def main(argv: list[str] | None = None) -> None:
    settings = parse_settings(argv)
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
