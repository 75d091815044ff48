"""``python -m server``: run the server until SIGINT/SIGTERM, logging the URL it serves on."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from server import logs
from server.app import create_app
from server.settings import Settings, parse_settings

log = logging.getLogger("server")


async def serve(settings: Settings) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None, handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    log.info("serving on http://%s:%d/ (data in %s)", shown, port, settings.data_dir.resolve())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    settings = parse_settings(argv)
    logs.configure(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
