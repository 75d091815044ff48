"""The one Python client that drives both upload servers: our seed protocol and tus 1.0, over aiohttp.

Request bodies are built before any timing starts (``prepare_*``), so the timed part is only HTTP. Both speak
over one ``aiohttp.ClientSession`` with keep-alive. Every request's latency can be reported to ``on_request``
as ``(kind, seconds)``, kind ``"start"`` (handshake / creation) or ``"chunk"``; any answer other than the
expected one raises ``UploadFailed``.

- ours (``OurUpload``): ``POST /api/upload/handshake`` then one multipart ``POST /api/upload`` per chunk
  (``tests.support.seed_protocol``'s ids and forms), ``parallel`` chunks of the file in flight. The upload is
  done when an answer says nothing is needed any more (``[]``): that answer comes after the server assembled
  the file and verified its MD5.
- tus (``TusUpload``): ``POST`` with ``Upload-Length`` creates, then ``PATCH``es of one chunk each with
  ``Upload-Offset``. PATCHes of one upload are sequential by protocol, so "several in flight" means several
  uploads of parts of the file (``prepare_tus(..., parts=4)``); @tus/file-store has no concatenation extension
  to join them afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from bench.measure import MiB
from tests.support.seed_protocol import form_body, plan

OnRequest = Callable[[str, float], None]
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


class UploadFailed(Exception):
    """A request of an upload got an unexpected answer (or none)."""


def new_session(connections: int = 0) -> aiohttp.ClientSession:
    """A keep-alive session; ``connections=0``: as many connections as there are requests in flight."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300),
    )


@dataclass(frozen=True)
class OurUpload:
    size: int
    handshake: bytes  # JSON body
    forms: tuple[tuple[bytes, str], ...]  # (body, content type) per chunk, in file order

    async def run(
        self,
        session: aiohttp.ClientSession,
        base: str,
        parallel: int = 1,
        on_request: OnRequest | None = None,
    ) -> None:
        base = base.rstrip("/")
        needs = await _post_ours(
            session, base + "/api/upload/handshake", self.handshake, "application/json", "start", on_request
        )
        if not isinstance(needs, list) or len(needs) != len(self.forms):
            raise UploadFailed(f"handshake: expected every chunk to be needed, got {str(needs)[:200]}")
        pending = iter(range(len(self.forms)))
        finished = False

        async def worker() -> None:
            nonlocal finished
            for index in pending:  # shared iterator: each chunk goes to exactly one worker
                body, content_type = self.forms[index]
                answer = await _post_ours(
                    session, base + "/api/upload", body, content_type, "chunk", on_request
                )
                finished |= answer == []

        await asyncio.gather(*(worker() for _ in range(parallel)))
        if not finished:
            raise UploadFailed("every chunk was sent but no answer said the file was complete")


async def _post_ours(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    content_type: str,
    kind: str,
    on_request: OnRequest | None,
) -> object:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers={"Content-Type": content_type}) as resp:
            text = await resp.text()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UploadFailed(f"POST {url}: {exc!r}") from exc
    if on_request is not None:
        on_request(kind, time.perf_counter() - started)
    if resp.status != 200:
        raise UploadFailed(f"POST {url}: {resp.status} {text[:300]}")
    return json.loads(text).get("data")


def prepare_ours(data: bytes, chunk_size: int = MiB, ext: str = ".bin") -> OurUpload:
    """Ids (MD5s, as the seed's client computes them) and every request body of one file."""
    planned = plan(data, chunk_size)
    handshake = json.dumps(
        {"fileId": planned.file_id, "ext": ext, "chunkIds": planned.chunk_ids, "size": len(data)}
    ).encode()
    # Fields before the bytes, as our browser client sends them (the seed's client sends ``file`` first;
    # the server accepts both): the server then knows where an in-order chunk goes before it arrives.
    forms = tuple(
        form_body([("chunkId", chunk_id), ("fileId", planned.file_id), ("file", chunk)])
        for chunk, chunk_id in zip(planned.chunks, planned.chunk_ids, strict=True)
    )
    return OurUpload(len(data), handshake, forms)


@dataclass(frozen=True)
class TusUpload:
    size: int
    pieces: tuple[bytes, ...]  # the PATCH bodies, in order
    checksums: tuple[str, ...] = ()  # an Upload-Checksum value per piece, or none

    async def run(
        self, session: aiohttp.ClientSession, endpoint: str, on_request: OnRequest | None = None
    ) -> None:
        started = time.perf_counter()
        headers = {**TUS_HEADERS, "Upload-Length": str(self.size)}
        try:
            async with session.post(endpoint, headers=headers) as resp:
                await resp.read()
                location = resp.headers.get("Location")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UploadFailed(f"POST {endpoint}: {exc!r}") from exc
        if on_request is not None:
            on_request("start", time.perf_counter() - started)
        if resp.status != 201 or not location:
            raise UploadFailed(f"POST {endpoint}: {resp.status}, Location {location!r}")
        url = urljoin(endpoint, location)
        offset = 0
        for index, piece in enumerate(self.pieces):
            started = time.perf_counter()
            headers = {
                **TUS_HEADERS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            }
            if self.checksums:
                headers["Upload-Checksum"] = self.checksums[index]
            try:
                async with session.patch(url, data=piece, headers=headers) as resp:
                    text = await resp.text()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise UploadFailed(f"PATCH {url}: {exc!r}") from exc
            if on_request is not None:
                on_request("chunk", time.perf_counter() - started)
            offset += len(piece)
            if resp.status != 204 or resp.headers.get("Upload-Offset") != str(offset):
                raise UploadFailed(
                    f"PATCH {url}: {resp.status}, Upload-Offset {resp.headers.get('Upload-Offset')} "
                    f"(expected {offset}) {text[:200]}"
                )


def prepare_tus(
    data: bytes, chunk_size: int = MiB, parts: int = 1, checksum: str | None = None
) -> list[TusUpload]:
    """``parts`` tus uploads that together carry ``data`` (contiguous slices, whole chunks each); with
    ``checksum`` (a hashlib name tus knows: md5, sha1, sha256), each PATCH carries its Upload-Checksum."""
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    per_part = -(-len(chunks) // parts)
    groups = [chunks[i : i + per_part] for i in range(0, len(chunks), per_part)]

    def checksums(group: list[bytes]) -> tuple[str, ...]:
        if checksum is None:
            return ()
        return tuple(
            f"{checksum} {base64.b64encode(hashlib.new(checksum, c).digest()).decode()}" for c in group
        )

    return [TusUpload(sum(map(len, group)), tuple(group), checksums(group)) for group in groups]


async def run_tus_parts(
    session: aiohttp.ClientSession,
    endpoint: str,
    uploads: list[TusUpload],
    on_request: OnRequest | None = None,
) -> None:
    await asyncio.gather(*(upload.run(session, endpoint, on_request) for upload in uploads))
