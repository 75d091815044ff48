"""The seed's upload protocol against the real server: resume, order, parallelism, several clients at once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Callable

import aiohttp
import pytest

from tests.support.seed_protocol import CHUNK, SeedClient, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

ON_EVERY_BACKEND = True  # the local default, and PostgreSQL + S3 (tests/conftest.py)


async def test_seed_flow_then_instant_upload(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    data = os.urandom(2 * CHUNK + 12345)
    p = plan(data)
    client = SeedClient(http, server.url)

    first = await client.handshake(p, ".jpg")
    assert first.status == 200
    assert first.body == {"code": 0, "msg": "", "data": p.chunk_ids}

    url = await client.upload(p, ".jpg")
    assert url == f"{server.url}/upload/{p.file_id}.jpg"
    status, body = await client.get_bytes(url)
    assert status == 200 and hashlib.md5(body).hexdigest() == p.file_id

    again = await client.handshake(p, ".jpg")  # any later uploader: nothing to send
    assert again.body == {"code": 0, "msg": "", "data": url}
    assert server.errors_logged() == []


async def test_same_content_under_another_extension(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    p = plan(os.urandom(1000))
    client = SeedClient(http, server.url)
    await client.upload(p, ".txt")
    answer = await client.handshake(p, ".md")
    assert answer.data == f"{server.url}/upload/{p.file_id}.md"
    assert (await client.get_bytes(answer.data))[0] == 200
    assert (await client.get_bytes(f"{server.url}/upload/{p.file_id}.png"))[0] == 404


async def test_resume_sends_only_missing_chunks(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(5 * CHUNK + 7))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    for chunk_id in p.chunk_ids[:3]:
        assert (await client.send_chunk(p, chunk_id)).status == 200
    # A new session (reload, another tab, another day) asks again: only the rest, in file order.
    answer = await client.handshake(p)
    assert answer.data == p.chunk_ids[3:]


async def test_the_compact_answer_lists_ranges_of_indexes(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """``?answer=ranges`` (our engine's): ``{needed, ranges}`` instead of the list of ids, on the handshake and
    on every chunk, whatever the order; the seed's answers, without it, stay as they were."""
    p = plan(os.urandom(6 * CHUNK + 7))
    compact = SeedClient(http, server.url, "?answer=ranges")
    assert (await compact.handshake(p)).data == {"needed": 7, "ranges": [[0, 7]]}
    assert (await compact.send_chunk(p, p.chunk_ids[3])).data == {"needed": 6, "ranges": [[0, 3], [4, 7]]}
    assert (await compact.send_chunk(p, p.chunk_ids[0])).data == {"needed": 5, "ranges": [[1, 3], [4, 7]]}
    assert (await SeedClient(http, server.url).handshake(p)).data == [p.chunk_ids[i] for i in (1, 2, 4, 5, 6)]
    for chunk_id in p.chunk_ids[4:]:
        await compact.send_chunk(p, chunk_id)
    assert (await compact.handshake(p)).data == {"needed": 2, "ranges": [[1, 3]]}
    await compact.send_chunk(p, p.chunk_ids[1])
    assert (await compact.send_chunk(p, p.chunk_ids[2])).data == {"needed": 0, "ranges": []}
    assert (await compact.handshake(p)).data == f"{server.url}/upload/{p.file_id}.bin"
    assert await compact.published_md5(p) == p.file_id

    wrong = await SeedClient(http, server.url, "?answer=list").handshake(plan(b"x"))
    assert (wrong.status, wrong.body["error"]) == (400, "BAD_FIELD")
    assert "answer='list' is not known" in wrong.body["msg"]
    assert server.errors_logged() == []


async def test_not_visible_before_complete(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(CHUNK + 1))
    client = SeedClient(http, server.url)
    await client.handshake(p, ".bin")
    await client.send_chunk(p, p.chunk_ids[1])
    assert (await client.get_bytes(f"{server.url}/upload/{p.file_id}.bin"))[0] == 404


async def test_out_of_order_and_twice(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(4 * CHUNK + 99))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    order = list(reversed(p.chunk_ids))
    order.insert(2, order[0])  # a duplicate, as a retry after a lost answer would send
    answers = [await client.send_chunk(p, chunk_id) for chunk_id in order[:-1]]
    assert all(a.status == 200 for a in answers)
    assert answers[0].data == p.chunk_ids[:-1]
    assert answers[2].data == answers[1].data  # the duplicate changed nothing
    last = await client.send_chunk(p, order[-1])
    assert last.body == {"code": 0, "msg": "", "data": []}
    await client.send_chunk(p, order[-1])  # a late duplicate after completion is harmless
    body = (await client.get_bytes(f"{server.url}/upload/{p.file_id}.bin"))[1]
    assert hashlib.md5(body).hexdigest() == p.file_id


async def test_fields_before_file_part(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(300))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    answer = await client.post_form(
        [("fileId", p.file_id), ("chunkId", p.chunk_ids[0]), ("file", p.chunks[0])]
    )
    assert answer.body["data"] == []


async def test_parallel_chunks(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(12 * CHUNK + 5))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    answers = await asyncio.gather(
        *(client.send_chunk(p, c) for c in random.sample(p.chunk_ids, len(p.chunk_ids)))
    )
    assert all(a.status == 200 for a in answers), [a.body for a in answers]
    assert sum(a.data == [] for a in answers) >= 1  # whoever stored the last chunk saw the assembly
    body = (await client.get_bytes(f"{server.url}/upload/{p.file_id}.bin"))[1]
    assert hashlib.md5(body).hexdigest() == p.file_id
    wait_until(lambda: server.assemblies(p.file_id) == 1, what="the assembly log line")


async def test_same_file_by_several_clients_at_once(server: ServerProcess) -> None:
    """Five independent clients (own connections) upload one file at once, in different orders."""
    p = plan(os.urandom(10 * CHUNK + 3))

    async def one_client(seed: int) -> str:
        async with aiohttp.ClientSession() as session:
            client = SeedClient(session, server.url)
            answer = await client.handshake(p, ".dat")
            needed = answer.data
            if isinstance(needed, str):
                return needed
            order = random.Random(seed).sample(needed, len(needed))
            for chunk_id in order:
                result = await client.send_chunk(p, chunk_id)
                assert result.status == 200, result.body
            final = await client.handshake(p, ".dat")
            assert isinstance(final.data, str), final.body
            return final.data

    urls = await asyncio.gather(*(one_client(seed) for seed in range(5)))
    assert set(urls) == {f"{server.url}/upload/{p.file_id}.dat"}
    async with aiohttp.ClientSession() as session:
        body = (await SeedClient(session, server.url).get_bytes(urls[0]))[1]
    assert hashlib.md5(body).hexdigest() == p.file_id
    wait_until(lambda: server.assemblies(p.file_id) >= 1, what="the assembly log line")
    assert server.assemblies(p.file_id) == 1
    assert server.errors_logged() == []


async def test_many_files_at_once(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    files = [plan(os.urandom(random.randint(1, 3 * CHUNK))) for _ in range(8)]
    client = SeedClient(http, server.url)
    urls = await asyncio.gather(*(client.upload(p, ".bin") for p in files))
    for p, url in zip(files, urls, strict=True):
        body = (await client.get_bytes(url))[1]
        assert hashlib.md5(body).hexdigest() == p.file_id


async def test_empty_file(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    client = SeedClient(http, server.url)
    # The seed's client turns an empty file into one empty chunk.
    p = plan(b"")
    url = await client.upload(p, ".txt")
    assert await client.get_bytes(url) == (200, b"")
    # A client that sends no chunk ids at all gets the URL at once.
    other = await client.post_json(
        "/api/upload/handshake", {"fileId": p.file_id, "ext": ".log", "chunkIds": []}
    )
    assert other.data == f"{server.url}/upload/{p.file_id}.log"


async def test_chunks_that_match_their_ids_but_not_the_file_id_discard_the_upload(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """Every chunk matches its id, the whole does not match fileId: the client's ids are wrong, not the
    bytes; nothing can be kept."""
    real = plan(os.urandom(2 * CHUNK))
    other = plan(os.urandom(2 * CHUNK))
    client = SeedClient(http, server.url)
    ids = [real.chunk_ids[0], other.chunk_ids[1][:32] + "1"]
    await client.post_json("/api/upload/handshake", {"fileId": real.file_id, "ext": ".bin", "chunkIds": ids})
    form = lambda i, data: [("file", data), ("chunkId", ids[i]), ("fileId", real.file_id)]
    assert (await client.post_form(form(0, real.chunks[0]))).status == 200
    last = await client.post_form(form(1, other.chunks[1]))
    assert last.status == 422 and last.body["error"] == "FILE_MISMATCH" and last.body["data"] is None
    again = await client.post_json(
        "/api/upload/handshake", {"fileId": real.file_id, "ext": ".bin", "chunkIds": ids}
    )
    assert again.data == ids  # started over


async def test_file_id_that_lies_publishes_nothing(
    server: ServerProcess, http: aiohttp.ClientSession, backend: str
) -> None:
    real = plan(os.urandom(CHUNK + 10))
    fake_id = hashlib.md5(b"something else").hexdigest()
    client = SeedClient(http, server.url)
    await client.post_json(
        "/api/upload/handshake", {"fileId": fake_id, "ext": ".bin", "chunkIds": real.chunk_ids}
    )
    form = lambda i: [("file", real.chunks[i]), ("chunkId", real.chunk_ids[i]), ("fileId", fake_id)]
    assert (await client.post_form(form(0))).status == 200
    last = await client.post_form(form(1))
    assert last.status == 422 and last.body["error"] == "FILE_MISMATCH"
    assert (await client.get_bytes(f"{server.url}/upload/{fake_id}.bin"))[0] == 404
    again = await client.post_json(
        "/api/upload/handshake", {"fileId": fake_id, "ext": ".bin", "chunkIds": real.chunk_ids}
    )
    assert again.data == real.chunk_ids  # started over
    if backend == "local":
        assert list((server.data_dir / "files").iterdir()) == []


async def test_declared_size_is_checked(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    p = plan(os.urandom(5000))
    client = SeedClient(http, server.url)
    await client.handshake(p, size=4000)
    answer = await client.send_chunk(p, p.chunk_ids[0])
    assert answer.status == 413 and "4000" in answer.body["msg"]


async def test_uploads_of_one_file_with_other_chunk_lists_coexist(
    server: ServerProcess, http: aiohttp.ClientSession, backend: str
) -> None:
    """Another chunk size (or a list made up by a stranger who knows the MD5) does not block an upload: each
    list is an upload of its own, and the first that completes with the right MD5 publishes the file."""
    data = os.urandom(3 * CHUNK)
    big, small = plan(data), plan(data, chunk_size=CHUNK // 2)
    fake = plan(os.urandom(100))
    client = SeedClient(http, server.url)
    made_up = await client.post_json(
        "/api/upload/handshake", {"fileId": big.file_id, "ext": ".bin", "chunkIds": fake.chunk_ids}
    )
    assert made_up.status == 200 and made_up.data == fake.chunk_ids
    await client.handshake(big)
    await client.send_chunk(big, big.chunk_ids[0])
    assert (await client.handshake(small)).data == small.chunk_ids
    for chunk_id in small.chunk_ids:
        answer = await client.send_chunk(small, chunk_id)
    assert answer.data == []
    published = await client.handshake(big)
    assert published.data == f"{server.url}/upload/{big.file_id}.bin"
    status, body = await client.get_bytes(published.data)
    assert status == 200 and hashlib.md5(body).hexdigest() == big.file_id
    assert (await client.send_chunk(big, big.chunk_ids[1])).data == []  # a late chunk of the dropped list
    local_folders = ("partial", "chunks") if backend == "local" else ()
    for folder in local_folders:  # nothing of the dropped upload is left
        assert not any((server.data_dir / folder).iterdir())


@pytest.mark.usefixtures("local_only")
@pytest.mark.parametrize("restart", [False, True], ids=["running", "after-a-restart"])
async def test_a_published_file_removed_by_hand_is_forgotten_and_can_be_uploaded_again(
    server: ServerProcess, http: aiohttp.ClientSession, restart: bool
) -> None:
    p = plan(os.urandom(2 * CHUNK + 9))
    client = SeedClient(http, server.url)
    url = await client.upload(p)
    (server.data_dir / "files" / p.file_id).unlink()  # an operator's mistake
    if restart:
        server.restart(hard=False)
        client = SeedClient(http, server.url)
    assert (await client.get_bytes(url))[0] == 404
    assert (await client.handshake(p)).data == p.chunk_ids  # not "stored": every chunk is needed again
    assert await client.upload(p) == url
    status, body = await client.get_bytes(url)
    assert status == 200 and hashlib.md5(body).hexdigest() == p.file_id
    wait_until(lambda: any("were forgotten" in line for line in server.log), what="the log line")
    assert server.errors_logged() == []


async def test_a_refused_handshake_writes_nothing(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    """Refused for want of a slot, a handshake does not even offer its extension: once the file is uploaded
    under another one, the refused extension is not served."""
    server = make_server("--max-uploads-in-progress", "1")
    client = SeedClient(http, server.url)
    first, second = plan(os.urandom(1000), chunk_size=600), plan(os.urandom(2000))
    assert (await client.handshake(first)).status == 200
    assert (await client.send_chunk(first, first.chunk_ids[0])).status == 200  # holds data: the only slot
    refused = await client.handshake(second, ".exe")
    assert (refused.status, refused.body["error"]) == (429, "TOO_MANY_UPLOADS")
    await client.upload(first)  # frees the slot
    url = await client.upload(second, ".bin")
    assert (await client.get_bytes(url))[0] == 200
    assert (await client.get_bytes(f"{server.url}/upload/{second.file_id}.exe"))[0] == 404
