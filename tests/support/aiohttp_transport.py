"""The upload engine's ``Transport`` over aiohttp, for running the engine under CPython against the real
server (the browser's is ``frontend/browser/transport.py``); bodies are encoded by the engine's own
``JsonBody``/``FormBody`` encoders. It counts what it sees: chunk requests, the chunks answered 200, requests
in flight (the most at once), and the bytes of every answer. ``gather = N`` holds every chunk request until
N are in flight at once, so a test of parallel lanes does not depend on how fast the first chunk is answered.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import urlsplit

import aiohttp

from frontend.engine import FormBody, HttpRequest, HttpResponse, JsonBody, TransportError
from frontend.engine.protocol import UPLOAD_PATH


class AiohttpTransport:
    """A CPython ``Transport``: bodies encoded by the engine's own ``JsonBody``/``FormBody`` encoders."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.answer_bytes = 0  # bodies of every answer, as received
        self.chunk_posts = 0
        self.stored_chunks: list[str] = []  # chunk ids the server answered 200 for
        self.in_flight = 0
        self.max_in_flight = 0
        self.gather: int | None = None
        self.gathered = asyncio.Event()

    async def request(self, req: HttpRequest) -> HttpResponse:
        headers = dict(req.headers)
        data: bytes | None = None
        if isinstance(req.body, JsonBody):
            data = req.body.encode()
        elif isinstance(req.body, FormBody):
            try:
                body = await req.body.resolved()  # a chunk's FileRange, read now (a browser slices it)
            except Exception as exc:
                raise TransportError(f"the file part could not be read: {exc}") from exc
            data, headers["content-type"] = body.encode(uuid.uuid4().hex)
        chunk = urlsplit(req.url).path == UPLOAD_PATH
        if chunk:
            self.chunk_posts += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if chunk and self.gather is not None:
                if self.in_flight >= self.gather:
                    self.gathered.set()
                await self.gathered.wait()
            async with self.session.request(
                req.method,
                req.url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=req.timeout),
            ) as resp:
                raw = await resp.read()
                status = resp.status
                self.answer_bytes += len(raw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.in_flight -= 1
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(req.body, FormBody) and status == 200:
            self.stored_chunks.append(req.body.field("chunkId") or "")
        return HttpResponse(status, body)
