"""The seed's upload protocol, spoken from Python the way the seed's JavaScript client speaks it.

Ids are computed exactly as SparkMD5 would (``md5(chunk).hex + index``); multipart forms put the ``file``
part FIRST, then ``chunkId`` and ``fileId``, as the seed's ``FormData`` does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from server.uploads.service import chunked_key

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Planned:
    file_id: str
    chunk_ids: list[str]
    chunks: list[bytes]

    def chunk(self, chunk_id: str) -> bytes:
        return self.chunks[self.chunk_ids.index(chunk_id)]

    @property
    def key(self) -> str:
        """The key of its upload on the server (the name of its folders in the local store)."""
        return chunked_key(self.file_id, tuple(self.chunk_ids))


def plan(data: bytes, chunk_size: int = CHUNK) -> Planned:
    """What the seed's ``splitFile`` computes (an empty file is one empty chunk, as its FileReader loop gives)."""
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    ids = [hashlib.md5(c).hexdigest() + str(i) for i, c in enumerate(chunks)]
    return Planned(hashlib.md5(data).hexdigest(), ids, chunks)


def damaged(data: bytes, at: int = 1000) -> bytes:
    """``data`` with the byte at ``at`` flipped (same length, another MD5): a chunk damaged on the way."""
    flipped = bytearray(data)
    flipped[at] ^= 0xFF
    return bytes(flipped)


def form_body(fields: list[tuple[str, bytes | str]], boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body with parts exactly in the given order (``file`` parts as blobs)."""
    boundary = boundary or uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        if name == "file":
            out += b'Content-Disposition: form-data; name="file"; filename="blob"\r\n'
            out += b"Content-Type: application/octet-stream\r\n\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() if isinstance(value, str) else value
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body.get("data")


class SeedClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, query: str = "") -> None:
        """``query``: added to both requests' paths (``"?answer=ranges"`` asks for the compact answer)."""
        self.session = session
        self.base = base_url.rstrip("/")
        self.query = query

    async def post_json(self, path: str, payload: Any = None, raw: bytes | None = None) -> Answer:
        body = raw if raw is not None else json.dumps(payload).encode()
        async with self.session.post(
            self.base + path + self.query, data=body, headers={"content-type": "application/json"}
        ) as resp:
            return Answer(resp.status, await resp.json(content_type=None))

    async def handshake(self, p: Planned, ext: str = ".bin", **extra: Any) -> Answer:
        return await self.post_json(
            "/api/upload/handshake", {"fileId": p.file_id, "ext": ext, "chunkIds": p.chunk_ids, **extra}
        )

    async def post_form(self, fields: list[tuple[str, bytes | str]]) -> Answer:
        body, content_type = form_body(fields)
        async with self.session.post(
            self.base + "/api/upload" + self.query, data=body, headers={"content-type": content_type}
        ) as resp:
            return Answer(resp.status, await resp.json(content_type=None))

    async def send_chunk(self, p: Planned, chunk_id: str, data: bytes | None = None) -> Answer:
        payload = p.chunk(chunk_id) if data is None else data
        return await self.post_form([("file", payload), ("chunkId", chunk_id), ("fileId", p.file_id)])

    async def upload(self, p: Planned, ext: str = ".bin", **extra: Any) -> str:
        """The seed's whole flow: handshake, then the needed chunks one by one. Returns the file's URL."""
        answer = await self.handshake(p, ext, **extra)
        assert answer.status == 200, answer.body
        needs = answer.data
        while isinstance(needs, list) and needs:
            answer = await self.send_chunk(p, needs[0])
            assert answer.status == 200, answer.body
            needs = answer.data
        if isinstance(needs, str):
            return needs
        return f"{self.base}/upload/{p.file_id}{ext}"

    async def published_md5(self, p: Planned, ext: str = ".bin") -> str:
        """The MD5 of the file served at ``/upload/<fileId><ext>`` (which must be served)."""
        status, body = await self.get_bytes(f"{self.base}/upload/{p.file_id}{ext}")
        assert status == 200
        return hashlib.md5(body).hexdigest()

    async def get_bytes(self, url: str) -> tuple[int, bytes]:
        async with self.session.get(url) as resp:
            return resp.status, await resp.read()
