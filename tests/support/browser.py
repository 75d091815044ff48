"""How the tests launch Chromium: Debian's /usr/bin/chromium when present (Playwright cannot download its own
browsers here), else ``$CHROMIUM``, else Playwright's own browser for people who have it installed."""

from __future__ import annotations

import os
import shutil
from typing import Any
from urllib.parse import urlsplit

# Without the background-networking flags Chromium keeps trying to reach the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--disable-domain-reliability",
    "--disable-quic",
]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def chromium_launch_kwargs() -> dict[str, Any]:
    kwargs: dict[str, Any] = {"headless": True, "args": CHROMIUM_ARGS}
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if os.path.exists(executable):
        kwargs["executable_path"] = executable
    return kwargs


def is_local(url: str) -> bool:
    """True for URLs that stay on this machine (and for data:/blob: URLs, which make no request)."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS
