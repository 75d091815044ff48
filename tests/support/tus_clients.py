"""The real tus clients of npm, as the tests run them: tus-js-client under node, Uppy bundled for Chromium.

Both come from the pinned package in ``tests/support/tus_js/`` (``scripts/setup.sh`` runs ``npm ci`` there).

- ``NodeUpload`` runs ``tus_js/upload.mjs`` (one upload with tus-js-client, its options given as JSON) and
  reads the JSON lines it prints: each answer it got, each chunk the server accepted, how it ended. A test can
  wait for an event, and tell a paused upload to go on (a line on its stdin).
- ``build_uppy`` bundles ``tus_js/uppy_entry.mjs`` with the pinned esbuild: Uppy's ES modules import CommonJS
  packages, which a browser cannot load as modules (``uppy.js`` and ``uppy.css`` in a folder).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

TUS_JS = Path(__file__).resolve().parent / "tus_js"
MiB = 1024 * 1024
FINAL = ("aborted", "terminated", "success", "error")


def installed(*parts: str) -> Path:
    """A path in the pinned package's ``node_modules``; a clear failure when ``npm ci`` has not run."""
    path = TUS_JS.joinpath("node_modules", *parts)
    if not path.exists():
        raise AssertionError(f"{path} is missing: run scripts/setup.sh (npm ci in {TUS_JS})")
    return path


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise AssertionError("node is not installed (scripts/test.sh installs Debian's nodejs)")
    return found


@dataclass
class NodeUpload:
    """One run of ``upload.mjs``. ``events`` are the JSON objects it printed, in order."""

    options: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    _proc: asyncio.subprocess.Process | None = None
    _new_event: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None
    _stderr: bytes = b""

    async def start(self) -> NodeUpload:
        installed("tus-js-client")
        self._proc = await asyncio.create_subprocess_exec(
            node(),
            str(TUS_JS / "upload.mjs"),
            json.dumps(self.options),
            cwd=TUS_JS,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None and self._proc.stderr is not None
        async for line in self._proc.stdout:
            self.events.append(json.loads(line))
            self._new_event.set()
        self._stderr = await self._proc.stderr.read()
        self._new_event.set()

    async def wait_for(self, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first event of this kind (waiting for it); fails if node ends without printing one."""
        async with asyncio.timeout(timeout):
            while True:
                found = [e for e in self.events if e["event"] == kind]
                if found:
                    return found[0]
                assert self._reader is not None
                if self._reader.done():
                    raise AssertionError(f"tus-js-client ended without {kind!r}: {self.transcript()}")
                self._new_event.clear()
                await self._new_event.wait()

    async def go_on(self) -> None:
        """Let a paused upload (``pauseAt``) start again."""
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(b"go\n")
        await self._proc.stdin.drain()
        self._proc.stdin.close()

    async def finish(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for node to exit; its final event (success, aborted, terminated or error)."""
        assert self._proc is not None and self._reader is not None
        async with asyncio.timeout(timeout):
            await self._reader
            code = await self._proc.wait()
        final = [e for e in self.events if e["event"] in FINAL]
        assert final, f"tus-js-client printed no final event (exit status {code}): {self.transcript()}"
        expected = 1 if final[-1]["event"] == "error" else 0
        assert code == expected, f"exit status {code}: {self.transcript()}"
        return final[-1]

    def kill(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

    def responses(self, method: str | None = None) -> list[dict[str, Any]]:
        """The answers tus-js-client got (``method``, ``status``, ``offset``, ``length``)."""
        return [
            e for e in self.events if e["event"] == "response" and (method is None or e["method"] == method)
        ]

    def accepted(self) -> list[int]:
        """The server's offset after each chunk, as the client took it."""
        return [e["accepted"] for e in self.events if e["event"] == "chunk"]

    def transcript(self) -> str:
        lines = [json.dumps(e) for e in self.events]
        return "\n".join(lines + [self._stderr.decode(errors="replace")])


async def run_node_upload(timeout: float = 60.0, **options: Any) -> NodeUpload:
    """Run one upload to its end; the run (its final event is ``run.events[-1]``)."""
    run = await NodeUpload(options).start()
    try:
        await run.finish(timeout)
    finally:
        run.kill()
    return run


def build_uppy(folder: Path) -> Path:
    """``uppy.js`` + ``uppy.css`` (Uppy core, Dashboard, Tus, GoldenRetriever) bundled into ``folder``; returns
    the folder."""
    esbuild = installed(".bin", "esbuild")
    subprocess.run(
        [
            str(esbuild),
            "uppy_entry.mjs",
            "--bundle",
            "--format=esm",
            f"--outdir={folder}",
            "--entry-names=uppy",
            "--log-level=warning",
        ],
        cwd=TUS_JS,
        check=True,
        timeout=60,
    )
    return folder


def metadata_header(pairs: dict[str, str]) -> str:
    """``Upload-Metadata`` as tus 1.0 spells it: "key base64(value)" pairs, comma-separated."""
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


async def published_md5(http: aiohttp.ClientSession, url: str) -> str:
    """The MD5 of the bytes the server serves at ``url`` (which must answer 200)."""
    digest = hashlib.md5()
    async with http.get(url) as answer:
        assert answer.status == 200, f"GET {url}: {answer.status} {await answer.text()}"
        async for block in answer.content.iter_chunked(MiB):
            digest.update(block)
    return digest.hexdigest()


async def head_upload(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str]]:
    """tus ``HEAD`` on an upload URL: the status and the answer's headers."""
    async with http.head(url, headers={"Tus-Resumable": "1.0.0"}) as answer:
        return answer.status, dict(answer.headers)
