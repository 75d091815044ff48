"""The cluster backend as it is deployed: several server processes over one PostgreSQL and one S3 bucket.

- Three instances behind nginx balancing round robin (``tests.support.balancer``): seed-protocol and tus
  uploads at once, spread over every instance, one instance killed with ``kill -9`` mid-way and started again;
  every file is published once, served whole by every instance, never partly.
- PostgreSQL, then S3, stopped for a few seconds mid-upload: ``503 DEPENDENCY_UNAVAILABLE`` with
  ``Retry-After``, nothing acknowledged is lost, and the uploads finish once the service is back; the
  browser's upload engine rides out an S3 outage by itself.
- What these scenarios found, now fixed: a tus upload whose assembly failed is published by the next look
  at it (HEAD); a download during an S3 outage is a 503, not a cut-off 200 with a traceback; the background
  Repr-Digest logs a line, not a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from multidict import CIMultiDict

from frontend.engine import (
    HttpRequest,
    HttpResponse,
    RetryPolicy,
    UploadConfig,
    UploadController,
    UploadSnapshot,
    UploadState,
)
from tests.support.aiohttp_transport import AiohttpTransport
from tests.support.balancer import Balancer
from tests.support.engine_doubles import BytesSource
from tests.support.postgres import PostgresServer
from tests.support.seaweedfs import SeaweedFS
from tests.support.seed_protocol import Answer, Planned, form_body, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import async_wait_until

pytestmark = pytest.mark.cluster

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}
TRANSIENT = frozenset({502, 503, 504})  # nginx found no instance, or one answered "try again"
PROXY = ("--trusted-proxies", "127.0.0.1")  # the balancer's X-Forwarded-For is believed


@pytest.fixture
def backend() -> str:
    """Every server of this module runs on the cluster backend (``conftest.backend_flags``)."""
    return "cluster"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def location_of(backend_flags: tuple[str, ...]) -> str:
    """The test's place in S3, ``<bucket>[/<prefix>]``, from its ``--storage s3://...?...`` flag."""
    return backend_flags[3].removeprefix("s3://").split("?", 1)[0]


def stored_keys(seaweedfs: SeaweedFS, location: str, multipart: bool = False) -> list[str]:
    """The keys of the objects (or of the multipart uploads in progress) at ``location``, as the store names
    them (without the location's prefix)."""
    bucket, _, prefix = location.partition("/")
    prefix = f"{prefix}/" if prefix else ""
    if multipart:
        keys = [upload["Key"] for upload in seaweedfs.multipart_uploads(bucket)]
    else:
        keys = seaweedfs.keys(bucket)
    return [key.removeprefix(prefix) for key in keys if key.startswith(prefix)]


def without_s3_retries(backend_flags: tuple[str, ...], seaweedfs: SeaweedFS) -> tuple[str, str]:
    """A ``--storage`` flag for the test's place in S3 with the S3 client's own retries off, so an outage shows
    at once instead of after seconds of backoff (given after ``backend_flags``, it is the one the server
    takes)."""
    return ("--storage", seaweedfs.url(location_of(backend_flags), max_attempts=1))


@dataclass
class Reply:
    """An HTTP answer read whole; ``status`` 0 when none arrived (the connection failed)."""

    status: int
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes = b""
    error: str = ""

    def json(self) -> Answer:
        """The body as the protocol's JSON envelope."""
        return Answer(self.status, json.loads(self.body))


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    """One request, its answer read whole; a failed connection is an answer too (status 0). Not
    ``SeedClient``: its answers keep no headers (Retry-After), and nginx's own 502 is not JSON."""
    try:
        async with http.request(method, url, **kwargs) as resp:
            return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Reply(0, error=f"{type(exc).__name__}: {exc}")


@dataclass
class Tally:
    """What the clients saw, over all uploads: bytes acknowledged, and the failures they retried."""

    acked: int = 0
    retried: Counter[str] = field(default_factory=Counter)  # "<what> <status>" -> how many
    finishing_patches: int = 0  # tus uploads whose last append's answer was lost (see tus_upload)

    def failed(self, what: str, reply: Reply) -> None:
        """A failure the client retries (anything else fails the test with the answer)."""
        assert reply.status in (0, *TRANSIENT), f"{what}: {reply.status} {reply.body[:300]!r} {reply.error}"
        self.retried[f"{what} {reply.status or reply.error.split(':')[0]}"] += 1


async def backoff(attempt: int) -> None:
    """The pause before sending a failed request again (a client's backoff, not a synchronisation)."""
    await asyncio.sleep(min(0.5, 0.02 * 2**attempt) * random.random())


async def until_answered(
    what: str,
    send: Callable[[], Awaitable[Reply]],
    tally: Tally,
    accept: tuple[int, ...],
    deadline: float = 60.0,
) -> Reply:
    """Send again until an answer with a status in ``accept`` arrives (retrying transient failures)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    attempt = 0
    while True:
        reply = await send()
        if reply.status in accept:
            return reply
        tally.failed(what, reply)
        assert loop.time() < end, f"{what}: still failing after {deadline}s: {reply.status} {reply.error}"
        attempt += 1
        await backoff(attempt)


# -- the two protocols, spoken by a client that retries ----------------------------------------------------------


async def seed_upload(
    http: aiohttp.ClientSession, base: str, p: Planned, tally: Tally, parallel: int = 3, seed: int = 0
) -> str:
    """The seed's protocol with its chunks sent ``parallel`` at a time in a shuffled order; a chunk that got no
    answer, or a 5xx, is sent again; then the handshake says what is still needed. Returns the file's URL."""
    handshake_body = {"fileId": p.file_id, "ext": ".bin", "chunkIds": p.chunk_ids}

    async def handshake() -> Answer:
        reply = await until_answered(
            "handshake",
            lambda: call(http, "POST", f"{base}/api/upload/handshake", json=handshake_body),
            tally,
            (200,),
        )
        return reply.json()

    async def send(chunk_id: str, lanes: asyncio.Semaphore) -> None:
        body, content_type = form_body(
            [("file", p.chunk(chunk_id)), ("chunkId", chunk_id), ("fileId", p.file_id)]
        )
        async with lanes:
            await until_answered(
                "chunk",
                lambda: call(
                    http, "POST", f"{base}/api/upload", data=body, headers={"content-type": content_type}
                ),
                tally,
                (200,),
            )
        tally.acked += len(p.chunk(chunk_id))

    needed = (await handshake()).data
    shuffle = random.Random(seed).shuffle
    for _round in range(5):
        if not isinstance(needed, list) or not needed:
            break
        order = list(needed)
        shuffle(order)
        lanes = asyncio.Semaphore(parallel)
        await asyncio.gather(*(send(chunk_id, lanes) for chunk_id in order))
        needed = (await handshake()).data
    assert isinstance(needed, str), f"the handshake still lists {needed}"
    return needed


async def tus_upload(
    http: aiohttp.ClientSession, base: str, data: bytes, name: str, tally: Tally, client: str | None = None
) -> str:
    """tus 1.0 as its clients speak it: create, PATCH ~1 MiB at a time; after a PATCH that got no answer (or a
    409/423/5xx), HEAD for the offset and go on from there. ``client``: an X-Forwarded-For the client sends (a
    proxy in front of the balancer). Returns the upload's URL."""
    forwarded = {"X-Forwarded-For": client} if client else {}
    created = await until_answered(
        "tus create",
        lambda: call(
            http,
            "POST",
            f"{base}/files/",
            headers={
                **TUS,
                **forwarded,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": f"filename {b64(name)}",
            },
        ),
        tally,
        (201,),
    )
    url = created.headers["Location"]
    offset, answered_last, failures = 0, False, 0
    while offset < len(data):
        piece = data[offset : offset + MiB]
        reply = await call(
            http, "PATCH", url, data=piece, headers={**STREAM, **forwarded, "Upload-Offset": str(offset)}
        )
        if reply.status == 204:
            tally.acked += int(reply.headers["Upload-Offset"]) - offset
            offset = int(reply.headers["Upload-Offset"])
            answered_last, failures = offset == len(data), 0
            continue
        if reply.status not in (409, 423):  # another append still holds it, or our offset is behind
            tally.failed("tus PATCH", reply)
        else:
            tally.retried[f"tus PATCH {reply.status}"] += 1
        failures += 1
        assert failures < 30, f"{url}: {failures} PATCHes in a row failed, the last {reply.status}"
        await backoff(failures)
        head = await until_answered("tus HEAD", lambda: call(http, "HEAD", url, headers=TUS), tally, (200,))
        tally.acked += int(head.headers["Upload-Offset"]) - offset
        offset = int(head.headers["Upload-Offset"])
    if not answered_last:
        # The last append's bytes were kept but its answer was lost: the server may not have published the
        # file (see test_a_tus_upload_complete_by_offset_is_published_after_a_failed_assembly). An empty
        # PATCH at the end makes it finish; a real tus client would stop here.
        tally.finishing_patches += 1
        await until_answered(
            "tus final PATCH",
            lambda: call(http, "PATCH", url, data=b"", headers={**STREAM, "Upload-Offset": str(len(data))}),
            tally,
            (204,),
        )
    return url


# -- three instances behind a load balancer ---------------------------------------------------------------------


def assemblies(servers: list[ServerProcess], file_id: str) -> int:
    """How many times any instance logged that it assembled and published this file (either protocol)."""
    return sum(
        f"assembled {file_id}:" in line
        or ("assembled stream upload" in line and f"published as {file_id}" in line)
        for server in servers
        for line in server.log
    )


async def watch_until_published(
    http: aiohttp.ClientSession, url: str, data: bytes, seen: list[int], deadline: float = 90.0
) -> None:
    """Poll ``url`` (a file being uploaded) until it is served: 404 until then, never a part of it; once 200,
    the whole file."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        reply = await call(http, "GET", url)
        seen.append(reply.status)
        if reply.status == 200:
            assert len(reply.body) == len(data) and md5(reply.body) == md5(data), f"{url}: wrong bytes served"
            return
        assert reply.status == 404, f"{url}: {reply.status} {reply.body[:200]!r} {reply.error}"
        assert loop.time() < end, f"{url} was never published"
        await asyncio.sleep(0.05)  # the polling interval


@pytest.mark.slow
async def test_three_instances_behind_a_balancer_survive_one_killed_mid_upload(
    make_server: Callable[..., ServerProcess],
    backend_flags: tuple[str, ...],
    seaweedfs: SeaweedFS,
    tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    """20 uploads at once through nginx to 3 instances (10 seed-protocol, chunks 3 at a time and out of order;
    10 tus, 1 MiB PATCHes); one instance is killed (``kill -9``) a third of the way and started again later.
    Every chunk acknowledged once (a second round of the handshake would count twice), every file published
    once, never served in part, and served whole and by range by every instance."""
    servers = list(
        await asyncio.gather(
            *(asyncio.to_thread(make_server, *PROXY, data_dir=tmp_path / f"instance{i}") for i in range(3))
        )
    )
    balancer = Balancer([server.port for server in servers], tmp_path / "nginx")
    base = balancer.start()
    victim = servers[1]
    try:
        rng = random.Random(14)
        files = [rng.randbytes(rng.randint(2 * MiB, 6 * MiB)) for _ in range(20)]
        total = sum(map(len, files))
        tally = Tally()
        killed_at = restarted_at = -1

        async def chaos() -> None:
            """kill -9 one instance once a fifth is acknowledged; start it again (same port) once the uploads
            went on without it (nginx takes it out for ``fail_timeout`` after one failure, and passes what it
            cannot connect to on to the next instance)."""
            nonlocal killed_at, restarted_at

            def spread() -> (
                bool
            ):  # a fifth acknowledged, and every instance served chunks and appends already
                chunks = balancer.served("POST", "/api/upload")
                appends = balancer.served("PATCH", "/files/", status=204, prefix=True)
                return tally.acked >= total // 5 and all(chunks[s.port] and appends[s.port] for s in servers)

            await async_wait_until(spread, 60, "a fifth of the bytes acknowledged, by every instance")
            victim.kill()
            at_kill, killed_at = tally.acked, len(balancer.requests())
            await async_wait_until(
                lambda: tally.acked >= at_kill + 6 * MiB,
                60,
                "the uploads to go on without the killed instance",
            )
            await asyncio.to_thread(victim.restart)
            restarted_at = len(balancer.requests())

        def upload(i: int, data: bytes) -> Awaitable[str]:
            if i % 2 == 0:
                return seed_upload(http, base, plan(data), tally, seed=i)
            return tus_upload(http, base, data, f"file{i}.bin", tally, client=f"203.0.113.{i}")

        watched = [0, 1, 2, 3]  # the first files, of both protocols, polled through the balancer meanwhile
        seen: dict[int, list[int]] = {i: [] for i in watched}
        watchers = [
            watch_until_published(http, f"{base}/upload/{md5(files[i])}.bin", files[i], seen[i])
            for i in watched
        ]
        chaos_task = asyncio.create_task(chaos())
        async with asyncio.timeout(120):
            await asyncio.gather(*(upload(i, data) for i, data in enumerate(files)), *watchers)
            await chaos_task
        assert tally.acked == total

        # The chunks and appends went to every instance (round robin); while one was dead, the others answered.
        chunks = balancer.served("POST", "/api/upload")
        appends = balancer.served("PATCH", "/files/", status=204, prefix=True)
        answered = [entry.served_by if entry.status < 500 else None for entry in balancer.requests()]
        while_dead, after = Counter(answered[killed_at:restarted_at]), Counter(answered[restarted_at:])
        print(f"\nchunks per instance: {dict(chunks)}; appends per instance: {dict(appends)}")
        print(f"answered while one was dead: {dict(while_dead)}; after its restart: {dict(after)}")
        print(
            f"retried: {dict(tally.retried)}; passed on to another instance: {len(balancer.routed_around())}"
        )
        print(
            f"finishing PATCHes: {tally.finishing_patches}; polls: { {i: Counter(s) for i, s in seen.items()} }"
        )
        for server in servers:
            assert chunks[server.port] > 0 and appends[server.port] > 0, (chunks, appends)

        # Nothing was served before it was complete: each watched file answered 404 first, then all of it.
        for i in watched:
            assert seen[i][0] == 404 and seen[i][-1] == 200 and set(seen[i]) == {404, 200}, seen[i]

        # Each file was assembled and published exactly once, by one of the instances.
        ids = [md5(data) for data in files]
        for file_id in ids:
            await async_wait_until(lambda f=file_id: assemblies(servers, f) >= 1, 10, f"the log of {file_id}")
            assert assemblies(servers, file_id) == 1
        connection = await asyncpg.connect(backend_flags[1])
        try:
            rows = await connection.fetch("SELECT file_id, object_key FROM files")
            owners = {row["owner"] for row in await connection.fetch("SELECT owner FROM uploads")}
        finally:
            await connection.close()
        assert sorted(row["file_id"] for row in rows) == sorted(ids)
        stored = await asyncio.to_thread(stored_keys, seaweedfs, location_of(backend_flags))
        assert {row["object_key"] for row in rows} <= set(stored)
        # The clients' own addresses came through nginx's X-Forwarded-For (the tus uploads are kept, with them).
        assert {f"203.0.113.{i}" for i in range(1, 20, 2)} <= owners, owners

        # Every instance serves every file, whole and by ranges, the restarted one too.
        async def check_download(server: ServerProcess, data: bytes) -> None:
            url = f"{server.url}/upload/{md5(data)}.bin"
            whole = await call(http, "GET", url)
            assert whole.status == 200 and md5(whole.body) == md5(data), (url, whole.status)
            start = len(data) // 3
            part = await call(http, "GET", url, headers={"Range": f"bytes={start}-{start + MiB}"})
            assert part.status == 206 and part.body == data[start : start + MiB + 1], (url, part.status)
            assert part.headers["Content-Range"] == f"bytes {start}-{start + MiB}/{len(data)}"

        lanes = asyncio.Semaphore(6)

        async def limited(server: ServerProcess, data: bytes) -> None:
            async with lanes:
                await check_download(server, data)

        await asyncio.gather(*(limited(server, data) for server in servers for data in files))

        # nginx takes the restarted instance back into the rotation.
        async def victim_serves() -> bool:
            await call(http, "HEAD", f"{base}/upload/{ids[0]}.bin")
            return any(entry.served_by == victim.port for entry in balancer.requests()[restarted_at:])

        await async_wait_until(victim_serves, 15, "nginx to send requests to the restarted instance again")
        for server in servers:
            assert server.errors_logged() == [], server.errors_logged()
    finally:
        balancer.stop()


# -- PostgreSQL or S3 out of reach ------------------------------------------------------------------------------


def assert_unavailable(reply: Reply, dependency: str) -> None:
    """A 503 naming the dependency, with Retry-After."""
    assert reply.status == 503, (reply.status, reply.body[:300], reply.error)
    envelope = reply.json().body
    assert envelope["error"] == "DEPENDENCY_UNAVAILABLE", envelope
    assert f"{dependency} is unavailable" in envelope["msg"], envelope
    assert reply.headers.get("Retry-After") == "2", reply.headers


async def tus_create(http: aiohttp.ClientSession, base: str, length: int, name: str) -> str:
    reply = await call(
        http,
        "POST",
        f"{base}/files/",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": f"filename {b64(name)}"},
    )
    assert reply.status == 201, reply
    return reply.headers["Location"]


async def tus_patch(http: aiohttp.ClientSession, url: str, offset: int, data: bytes) -> Reply:
    return await call(http, "PATCH", url, data=data, headers={**STREAM, "Upload-Offset": str(offset)})


async def chunk(http: aiohttp.ClientSession, base: str, p: Planned, index: int) -> Reply:
    body, content_type = form_body(
        [("file", p.chunks[index]), ("chunkId", p.chunk_ids[index]), ("fileId", p.file_id)]
    )
    return await call(http, "POST", f"{base}/api/upload", data=body, headers={"content-type": content_type})


async def handshake(http: aiohttp.ClientSession, base: str, p: Planned) -> Reply:
    payload = {"fileId": p.file_id, "ext": ".bin", "chunkIds": p.chunk_ids}
    return await call(http, "POST", f"{base}/api/upload/handshake", json=payload)


async def once_back(what: str, send: Callable[[], Awaitable[Reply]], accept: int) -> Reply:
    """Send until ``accept`` comes back (the service just restarted: the first tries may still get 503)."""
    return await until_answered(what, send, Tally(), (accept,), deadline=20)


async def test_postgres_stopped_mid_upload_is_503_then_the_uploads_finish(
    make_server: Callable[..., ServerProcess], postgres: PostgresServer, http: aiohttp.ClientSession
) -> None:
    """A chunk, a handshake, a PATCH and a HEAD while PostgreSQL is down: 503 naming it, with Retry-After;
    once it is back, only what was not acknowledged is asked for."""
    server = make_server()
    base = server.url
    data = random.Random(1).randbytes(4 * MiB + 100)
    p = plan(data)
    assert (await handshake(http, base, p)).json().data == p.chunk_ids
    for index in (3, 0):  # acknowledged before the outage
        assert (await chunk(http, base, p, index)).status == 200
    stream = random.Random(2).randbytes(2 * MiB + 5)
    tus_url = await tus_create(http, base, len(stream), "stream.bin")
    assert (await tus_patch(http, tus_url, 0, stream[:MiB])).status == 204

    postgres.stop()
    try:
        async with asyncio.timeout(30):  # an unreachable database is an answer, not a hang
            assert_unavailable(await chunk(http, base, p, 1), "PostgreSQL")
            assert_unavailable(await handshake(http, base, p), "PostgreSQL")
            assert_unavailable(await tus_patch(http, tus_url, MiB, stream[MiB:]), "PostgreSQL")
            head = await call(http, "HEAD", tus_url, headers=TUS)  # no body: the status and Retry-After
            assert head.status == 503 and head.headers.get("Retry-After") == "2", head
    finally:
        postgres.start()

    # Back: what was acknowledged before the outage is not asked for again.
    needed = (await once_back("handshake", lambda: handshake(http, base, p), 200)).json().data
    assert needed == [p.chunk_ids[1], p.chunk_ids[2], p.chunk_ids[4]]
    for index in (1, 4, 2):
        assert (await chunk(http, base, p, index)).status == 200
    assert (await handshake(http, base, p)).json().data == f"{base}/upload/{p.file_id}.bin"
    head = await call(http, "HEAD", tus_url, headers=TUS)
    assert head.status == 200 and head.headers["Upload-Offset"] == str(MiB)
    assert (await tus_patch(http, tus_url, MiB, stream[MiB:])).status == 204
    for file_id, expected in ((p.file_id, data), (md5(stream), stream)):
        served = await call(http, "GET", f"{base}/upload/{file_id}.bin")
        assert served.status == 200 and md5(served.body) == md5(expected)
    assert server.errors_logged() == []


async def test_s3_stopped_mid_upload_is_503_then_the_uploads_finish(
    make_server: Callable[..., ServerProcess], seaweedfs: SeaweedFS, http: aiohttp.ClientSession
) -> None:
    """A chunk and a PATCH while S3 is down: 503 naming it, with Retry-After (after the S3 client's own
    retries); the handshake needs only PostgreSQL and still answers; once S3 is back the uploads finish."""
    server = make_server()
    base = server.url
    earlier = random.Random(3).randbytes(300_000)
    published = plan(earlier)
    assert (await handshake(http, base, published)).status == 200
    assert (await chunk(http, base, published, 0)).json().data == []
    data = random.Random(4).randbytes(4 * MiB + 100)
    p = plan(data)
    assert (await handshake(http, base, p)).json().data == p.chunk_ids
    for index in (2, 0):
        assert (await chunk(http, base, p, index)).status == 200
    stream = random.Random(5).randbytes(2 * MiB + 5)
    tus_url = await tus_create(http, base, len(stream), "stream.bin")
    assert (await tus_patch(http, tus_url, 0, stream[:MiB])).status == 204

    seaweedfs.stop()
    try:
        async with asyncio.timeout(30):  # each takes seconds: the S3 client's own retries come first
            refused_chunk, refused_patch, answered = await asyncio.gather(
                chunk(http, base, p, 1), tus_patch(http, tus_url, MiB, stream[MiB:]), handshake(http, base, p)
            )
            assert_unavailable(refused_chunk, "S3")
            assert_unavailable(refused_patch, "S3")
            # PostgreSQL is there: the handshake answers, and nothing acknowledged is asked for again.
            assert answered.json().data == [p.chunk_ids[i] for i in (1, 3, 4)]
    finally:
        if not seaweedfs.running:
            seaweedfs.start()

    for index in (1, 4, 3):
        assert (await once_back("chunk", lambda i=index: chunk(http, base, p, i), 200)).status == 200
    assert (await handshake(http, base, p)).json().data == f"{base}/upload/{p.file_id}.bin"
    head = await call(http, "HEAD", tus_url, headers=TUS)
    assert head.status == 200 and head.headers["Upload-Offset"] == str(MiB)
    assert (await tus_patch(http, tus_url, MiB, stream[MiB:])).status == 204
    for file_id, expected in ((p.file_id, data), (md5(stream), stream), (published.file_id, earlier)):
        served = await call(http, "GET", f"{base}/upload/{file_id}.bin")
        assert served.status == 200 and md5(served.body) == md5(expected)
    assert server.errors_logged() == []


async def test_the_upload_engine_rides_out_an_s3_outage(
    make_server: Callable[..., ServerProcess], seaweedfs: SeaweedFS, http: aiohttp.ClientSession
) -> None:
    """S3 goes away once two chunks are stored: the engine gets 503s, backs off, retries; S3 comes back and the
    engine finishes by itself, each chunk stored once."""
    server = make_server()
    data = random.Random(6).randbytes(6 * MiB + 3)
    transport = AiohttpTransport(http)
    answers: list[tuple[int, str | None]] = []
    revived: list[asyncio.Future[float]] = []

    class StopS3AfterTwoChunks:
        async def request(self, req: HttpRequest) -> HttpResponse:
            if len(transport.stored_chunks) >= 2 and seaweedfs.running and not revived:
                seaweedfs.stop()
            answer = await transport.request(req)
            body = answer.json_body if isinstance(answer.json_body, dict) else {}
            answers.append((answer.status, body.get("error")))
            return answer

    def on_snapshot(snap: UploadSnapshot) -> None:
        if snap.state is UploadState.RETRYING and not seaweedfs.running and not revived:
            revived.append(asyncio.ensure_future(asyncio.to_thread(seaweedfs.start)))

    config = UploadConfig(parallel=3, retry=RetryPolicy(base=0.05, cap=0.5, max_attempts=None))
    ctl = UploadController(
        BytesSource(data, "big.bin"),
        StopS3AfterTwoChunks(),
        base_url=server.url,
        config=config,
        listener=on_snapshot,
    )
    try:
        async with asyncio.timeout(60):
            final = await ctl.upload()
    finally:
        if revived:
            await revived[0]
        if not seaweedfs.running:
            seaweedfs.start()
    assert final.state is UploadState.FINISHED, final
    assert (503, "DEPENDENCY_UNAVAILABLE") in answers
    assert sorted(transport.stored_chunks) == sorted(ctl.plan.chunk_ids if ctl.plan else [])  # each once
    served = await call(http, "GET", final.url or "")
    assert served.status == 200 and md5(served.body) == md5(data)
    assert server.errors_logged() == []


# -- what these tests found (each was a server bug, fixed) ------------------------------------------------------


async def test_a_tus_upload_complete_by_offset_is_published_after_a_failed_assembly(
    make_server: Callable[..., ServerProcess],
    backend_flags: tuple[str, ...],
    seaweedfs: SeaweedFS,
    http: aiohttp.ClientSession,
) -> None:
    server = make_server(*without_s3_retries(backend_flags, seaweedfs))
    location = location_of(backend_flags)
    data = random.Random(8).randbytes(14 * MiB + 7)  # assembled in two 8 MiB parts: time to stop S3 meanwhile
    url = await tus_create(http, server.url, len(data), "whole.bin")
    assert (await tus_patch(http, url, 0, data[: 13 * MiB])).status == 204

    async def assembling() -> bool:  # the file's multipart object exists: the last append was kept
        keys = await asyncio.to_thread(stored_keys, seaweedfs, location, multipart=True)
        return any(key.startswith("assembled/") for key in keys)

    last = asyncio.create_task(tus_patch(http, url, 13 * MiB, data[13 * MiB :]))
    try:
        await async_wait_until(assembling, 20, "the assembly of the whole file to begin")
        seaweedfs.stop()
        answer = await last
        if answer.status == 204:
            pytest.skip("the assembly was over before S3 was stopped: nothing shown either way")
        assert_unavailable(answer, "S3")
    finally:
        if not seaweedfs.running:
            seaweedfs.start()
    # What a tus client does after a failed PATCH: HEAD, and send from the offset it gives.
    head = await call(http, "HEAD", url, headers=TUS)
    assert head.status == 200, (head.status, server.log[-2:])  # S3 is back: start() waits until it reads
    offset = int(head.headers["Upload-Offset"])
    if offset < len(data):
        assert (await tus_patch(http, url, offset, data[offset:])).status == 204
    # The offset is the length: the client is done (tus-js-client reports success), so the file must be served.

    async def served() -> bool:
        return (await call(http, "GET", f"{server.url}/upload/{md5(data)}.bin")).status == 200

    await async_wait_until(served, 3, f"the file to be published (HEAD said offset {offset} of {len(data)})")


async def one_chunk_file(http: aiohttp.ClientSession, server: ServerProcess, seed: int) -> Planned:
    """A file of 300,000 random bytes in one chunk, uploaded and published with the seed's protocol."""
    p = plan(random.Random(seed).randbytes(300_000))
    assert (await handshake(http, server.url, p)).status == 200
    assert (await chunk(http, server.url, p, 0)).json().data == []
    return p


async def test_a_download_during_an_s3_outage_is_503(
    make_server: Callable[..., ServerProcess],
    backend_flags: tuple[str, ...],
    seaweedfs: SeaweedFS,
    http: aiohttp.ClientSession,
) -> None:
    server = make_server(*without_s3_retries(backend_flags, seaweedfs))
    p = await one_chunk_file(http, server, seed=9)
    url = f"{server.url}/upload/{p.file_id}.bin"
    assert (await call(http, "GET", url)).status == 200
    # Its Repr-Digest is computed (from S3) after the first download: let that finish first.
    await async_wait_until(
        lambda: any(f"Repr-Digest of upload/{p.file_id}" in line for line in server.log),
        10,
        "the Repr-Digest",
    )
    seaweedfs.stop()
    try:
        async with asyncio.timeout(30):
            reply = await call(http, "GET", url)
    finally:
        seaweedfs.start()
    assert server.errors_logged() == [], server.errors_logged()
    assert_unavailable(reply, "S3")


async def test_a_repr_digest_during_an_s3_outage_logs_no_traceback(
    make_server: Callable[..., ServerProcess],
    backend_flags: tuple[str, ...],
    seaweedfs: SeaweedFS,
    http: aiohttp.ClientSession,
) -> None:
    flags = without_s3_retries(backend_flags, seaweedfs)
    server = make_server(*flags)
    # Another instance of the same cluster: the one that published the file computes its Repr-Digest at once
    # (from S3, in the background); this one has not, and will when the file is first asked for.
    other = make_server(*flags)
    p = await one_chunk_file(http, server, seed=10)
    seaweedfs.stop()
    try:
        # HEAD needs only PostgreSQL, and asks for the file's Repr-Digest: read from S3, in the background.
        assert (await call(http, "HEAD", f"{other.url}/upload/{p.file_id}.bin")).status == 200
        await async_wait_until(
            lambda: any(
                f"could not compute the Repr-Digest of upload/{p.file_id}" in line for line in other.log
            ),
            30,
            "the Repr-Digest to fail",
        )
    finally:
        seaweedfs.start()
    assert server.errors_logged() == other.errors_logged() == [], (
        server.errors_logged() + other.errors_logged()
    )
