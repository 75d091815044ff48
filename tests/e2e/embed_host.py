"""A host page for the embeddable uploader: another origin (its own port), NOT cross-origin isolated.

- ``HostServer`` serves pages from memory with Python's ``http.server`` in a thread, with no COOP/COEP (and no
  other special header), like an ordinary site that embeds us.
- ``host_page(server_url, body)`` is such a page: it records every event the uploaders dispatch in
  ``window.events`` (listening on ``document``: the events bubble and are composed), then ``body`` (the
  documented snippet).
- ``EmbedHost`` drives it from Playwright: waits for events, chooses files inside an uploader's iframe.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import Any, Self

from playwright.sync_api import FrameLocator, Page

from tests.e2e.harness import PYTHON_READY_TIMEOUT_MS, UPLOAD_TIMEOUT_MS

EVENTS = [
    "uploader-ready",
    "uploader-error",
    "upload-added",
    "upload-progress",
    "upload-paused",
    "upload-resumed",
    "upload-done",
    "upload-failed",
    "upload-removed",
]


def snippet(server_url: str, attributes: str) -> str:
    """The README's snippet, with this server's URL."""
    return (
        f'<script src="{server_url}/embed.js" defer></script>\n'
        f"<resumable-uploader {attributes}></resumable-uploader>"
    )


def host_page(body: str, title: str = "A host page") -> str:
    names = ", ".join(f'"{name}"' for name in EVENTS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<script>
  window.events = [];
  for (const name of [{names}]) {{
    document.addEventListener(name, (event) => window.events.push(
      {{ type: event.type, target: event.target.id, detail: event.detail, at: performance.now() }}));
  }}
</script>
<style>body {{ font-family: sans-serif; margin: 1.5rem; background: #fafafa; }}</style>
</head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


class HostServer:
    """Pages from memory on ``http://127.0.0.1:<own port>``, answered without any isolation header."""

    def __init__(self) -> None:
        pages: dict[str, str] = {}
        self.pages = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?", 1)[0])
                data = (body or "not found").encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.url + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbedHost:
    """The host page in the browser, and the uploaders on it (found by their element ids)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, url: str) -> None:
        self.page.goto(url)

    def events(self, target: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate("window.events")
        return [
            e
            for e in found
            if (target is None or e["target"] == target) and (kind is None or e["type"] == kind)
        ]

    def wait_event(
        self,
        kind: str,
        target: str | None = None,
        name: str | None = None,
        timeout_ms: float = UPLOAD_TIMEOUT_MS,
    ) -> dict[str, Any]:
        """Wait until an event of this type (for this element, about this file name) was dispatched."""
        self.page.wait_for_function(
            """([kind, target, name]) => window.events.some(e => e.type === kind
                && (target === null || e.target === target)
                && (name === null || (e.detail && e.detail.name === name)))""",
            arg=[kind, target, name],
            timeout=timeout_ms,
        )
        return next(
            e for e in self.events(target, kind) if name is None or (e["detail"] or {}).get("name") == name
        )

    def wait_ready(self, target: str) -> dict[str, Any]:
        return self.wait_event("uploader-ready", target, timeout_ms=PYTHON_READY_TIMEOUT_MS)

    def frame(self, target: str) -> FrameLocator:
        """The uploader's iframe (Playwright's CSS pierces the element's open shadow root)."""
        return self.page.frame_locator(f"resumable-uploader#{target} iframe")

    def choose(self, target: str, *paths: Path) -> None:
        self.frame(target).locator("#file-input").set_input_files([str(p) for p in paths])
