"""tuspy 1.1.0 (PyPI ``tuspy``, the tus project's Python client) against the real server's ``/files/``.

tuspy creates the upload (POST), appends with PATCH in ``chunk_size`` pieces, sends ``Upload-Checksum`` with
each one when asked (sha1 unless a subclass names another algorithm), and resumes an upload from its URL:
given as ``url``, or found again through its URL storage (``store_url`` + ``url_storage``) by the file's
fingerprint. tuspy is synchronous (``requests``); its ``AsyncUploader`` uses aiohttp. Every test ends by
comparing the MD5 of the bytes the server publishes at ``/upload/<md5><ext>`` with the source's.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusUploadFailed
from tusclient.storage.filestorage import FileStorage
from tusclient.uploader import AsyncUploader, Uploader

from tests.support.http_ranges import write_random_file
from tests.support.server_process import ServerProcess
from tests.support.tus_clients import MiB, head_upload, published_md5

ON_EVERY_BACKEND = True  # the local default, and PostgreSQL + S3 (tests/conftest.py)

NAME = "отчёт за год.txt"  # metadata values are UTF-8, Base64-encoded: the ext comes from it


@pytest.fixture
def tus_server(make_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    """A fresh server that must not log an error or a traceback while the client uses it."""
    server = make_server()
    yield server
    assert server.errors_logged() == []


def uploader_class(algorithm: str, lie: bool = False) -> type[Uploader]:
    """tuspy's Uploader sending ``Upload-Checksum`` in ``algorithm`` (tuspy's own choice is sha1); with
    ``lie``, a checksum of other bytes than those sent."""
    hash_function = getattr(hashlib, algorithm)

    def checksum(data: bytes) -> Any:
        return hash_function(data + b"!" if lie else data)

    return type(
        f"{algorithm.title()}Uploader", (Uploader,), {"CHECKSUM_ALGORITHM_PAIR": (algorithm, checksum)}
    )


def new_uploader(cls: type[Uploader], server: ServerProcess, path: Path, **options: Any) -> Uploader:
    client = tus_client.TusClient(f"{server.url}/files/")
    return cls(file_path=str(path), client=client, metadata={"filename": NAME}, **options)


async def offset_at(http: aiohttp.ClientSession, url: str) -> int:
    status, headers = await head_upload(http, url)
    assert status == 200, (status, headers)
    return int(headers["Upload-Offset"])


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
async def test_chunks_with_checksums(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path, algorithm: str
) -> None:
    size = 4 * MiB + 321
    path = tmp_path / "source.txt"
    md5 = write_random_file(path, size, seed=10)
    uploader = new_uploader(uploader_class(algorithm), tus_server, path, chunk_size=MiB, upload_checksum=True)
    offsets = []
    while uploader.offset < size:
        await asyncio.to_thread(uploader.upload_chunk)
        offsets.append(uploader.offset)
        assert uploader.request is not None
        sent = uploader.request._request_headers["upload-checksum"]
        assert sent.startswith(f"{algorithm} ")
    assert offsets == [MiB, 2 * MiB, 3 * MiB, 4 * MiB, size]
    assert uploader.url is not None and uploader.url.startswith(f"{tus_server.url}/files/")
    assert await offset_at(http, uploader.url) == size
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.txt") == md5


async def test_a_checksum_mismatch_keeps_nothing(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A PATCH whose ``Upload-Checksum`` does not match its bytes: 460, nothing of it kept; the same upload
    then takes the right bytes (tuspy resumes it from its URL)."""
    size = 2 * MiB + 5
    path = tmp_path / "source.txt"
    md5 = write_random_file(path, size, seed=11)
    honest = new_uploader(uploader_class("sha1"), tus_server, path, chunk_size=MiB, upload_checksum=True)
    await asyncio.to_thread(honest.upload_chunk)
    assert honest.offset == MiB and honest.url is not None

    liar = new_uploader(
        uploader_class("sha1", lie=True),
        tus_server,
        path,
        url=honest.url,
        chunk_size=MiB,
        upload_checksum=True,
    )
    assert liar.offset == MiB  # from the server's HEAD
    with pytest.raises(TusUploadFailed) as failed:
        await asyncio.to_thread(liar.upload_chunk)
    assert failed.value.status_code == 460
    assert await offset_at(http, honest.url) == MiB

    resumed = new_uploader(
        uploader_class("sha1"), tus_server, path, url=honest.url, chunk_size=MiB, upload_checksum=True
    )
    assert resumed.offset == MiB
    await asyncio.to_thread(resumed.upload)
    assert resumed.offset == size
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.txt") == md5


async def test_resume_through_the_url_storage_after_a_server_kill(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A first client (``store_url=True`` with a ``FileStorage``) uploads 2 MiB and stops; the server is killed
    (SIGKILL) and restarted on the same port; a new client over the same storage finds the URL by the file's
    fingerprint, asks the server where it stands (HEAD) and sends the rest, with checksums.

    tuspy does not retry by default (``retries=0``): any refusal of a PATCH by this lone client fails the
    upload, such as a ``423`` while the restarted server folds the previous chunk into its file."""
    size = 5 * MiB + 17
    path = tmp_path / "source.txt"
    md5 = write_random_file(path, size, seed=12)
    storage = tmp_path / "tuspy-urls.json"
    options = {"chunk_size": MiB, "upload_checksum": True, "store_url": True}

    first = new_uploader(Uploader, tus_server, path, url_storage=FileStorage(str(storage)), **options)
    await asyncio.to_thread(first.upload, 2 * MiB)  # stop_at
    assert first.offset == 2 * MiB and first.url is not None
    tus_server.restart()

    second = new_uploader(Uploader, tus_server, path, url_storage=FileStorage(str(storage)), **options)
    assert second.url == first.url
    assert second.offset == 2 * MiB  # asked the restarted server
    offsets = []
    while second.offset < size:
        await asyncio.to_thread(second.upload_chunk)
        offsets.append(second.offset)
    assert offsets == [3 * MiB, 4 * MiB, 5 * MiB, size]
    assert await offset_at(http, first.url) == size
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.txt") == md5


async def test_async_uploader(tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    """tuspy's ``AsyncUploader`` (aiohttp), 1 MiB chunks with sha1 checksums."""
    size = 3 * MiB + 3
    path = tmp_path / "source.txt"
    md5 = write_random_file(path, size, seed=13)
    client = tus_client.TusClient(f"{tus_server.url}/files/")
    uploader: AsyncUploader = client.async_uploader(
        file_path=str(path), chunk_size=MiB, upload_checksum=True, metadata={"filename": NAME}
    )
    await uploader.upload()
    assert uploader.offset == size and uploader.url is not None
    assert await offset_at(http, uploader.url) == size
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.txt") == md5
