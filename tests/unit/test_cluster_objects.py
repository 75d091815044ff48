"""The cluster backend's S3 layer (``server.storage.cluster.objects``), against a real S3 server (SeaweedFS).

The ``s3://`` URL parsing is pure and tested first; every other test talks to the session's SeaweedFS
(``tests/support/seaweedfs.py``) in a bucket of its own, and looks at what was left in S3 with a separate
botocore client. The outage tests stop (or freeze) that server and bring it back before they end.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from server.storage.cluster.errors import DependencyUnavailable
from server.storage.cluster.objects import (
    PART_SIZE,
    MiB,
    NotFound,
    Objects,
    S3Config,
    ShortObject,
    parse_s3_url,
)
from tests.support.seaweedfs import SeaweedFS
from tests.support.waiting import async_wait_until

# Timeouts loose enough for a busy machine, and short ones for the outage tests: an outage is noticed in
# seconds (a silent read after 1 s, a request not done after 2 s, one retry).
TIMEOUTS = {"connect_timeout": 5, "read_timeout": 20, "max_attempts": 3, "request_timeout": 60}
SHORT_TIMEOUTS = {"connect_timeout": 1, "read_timeout": 1, "max_attempts": 2, "request_timeout": 2}
HANG_BOUND = 30.0  # seconds: an outage test taking longer than this is a hang, not slowness


# -- the s3:// URL (pure) ------------------------------------------------------------------------------------


def test_url_with_everything() -> None:
    config = parse_s3_url(
        "s3://files.example-1/cluster/a?endpoint=http://127.0.0.1:8333&region=eu-west-3"
        "&access_key=AK&secret_key=s%2Fe%2Bcret&connect_timeout=2.5&read_timeout=9&max_attempts=4"
        "&request_timeout=60"
    )
    assert config == S3Config(
        bucket="files.example-1",
        prefix="cluster/a/",
        endpoint="http://127.0.0.1:8333",
        region="eu-west-3",
        access_key="AK",
        secret_key="s/e+cret",  # percent-decoded
        addressing_style="path",  # the default with an endpoint of one's own
        connect_timeout=2.5,
        read_timeout=9,
        max_attempts=4,
        request_timeout=60,
    )


def test_url_takes_what_it_lacks_from_the_aws_variables_and_wins_over_them() -> None:
    env = {
        "AWS_ENDPOINT_URL": "https://s3.example.net",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "AWS_ACCESS_KEY_ID": "env-key",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_SESSION_TOKEN": "env-token",
    }
    config = parse_s3_url("s3://bucket?region=us-west-2", env)
    assert (config.endpoint, config.region, config.access_key, config.secret_key, config.session_token) == (
        "https://s3.example.net",
        "us-west-2",
        "env-key",
        "env-secret",
        "env-token",
    )
    s3_only = parse_s3_url("s3://bucket", {**env, "AWS_ENDPOINT_URL_S3": "http://minio:9000"})
    assert s3_only.endpoint == "http://minio:9000"  # the S3-specific variable first


def test_url_defaults_for_aws_itself() -> None:
    config = parse_s3_url("s3://bucket", {})
    assert (config.endpoint, config.region, config.access_key, config.prefix) == (None, "us-east-1", None, "")
    assert config.addressing_style == "auto"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://bucket", "s3://"),
        ("s3://Bucket", "bucket name"),
        ("s3://ab", "bucket name"),
        ("s3://-bucket", "bucket name"),
        ("s3://bu..cket", "bucket name"),
        ("s3://bucket?endpont=http://x", "unknown S3 URL parameter(s): endpont"),
        ("s3://bucket?region=a&region=b", "more than once: region"),
        ("s3://bucket?endpoint=ftp://x", "http:// or https://"),
        ("s3://bucket?endpoint=http://", "http:// or https://"),
        ("s3://bucket?access_key=AK", "both an access key and a secret key"),
        ("s3://bucket?secret_key=TOPSECRET", "both an access key and a secret key"),
        ("s3://bucket?read_timeout=0", "read_timeout must be a positive number"),
        ("s3://bucket?connect_timeout=soon", "connect_timeout must be a positive number"),
        ("s3://bucket?max_attempts=1.5", "max_attempts must be a positive number"),
        ("s3://bucket?addressing_style=dns", "path, virtual or auto"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        parse_s3_url(url, {})
    assert "TOPSECRET" not in str(raised.value)


def test_secrets_stay_out_of_the_config_repr() -> None:
    config = parse_s3_url("s3://bucket?access_key=AK&secret_key=TOPSECRET&session_token=TOKEN", {})
    assert "TOPSECRET" not in repr(config) and "TOKEN" not in repr(config)


# -- against SeaweedFS ---------------------------------------------------------------------------------------


@pytest.fixture
async def objects(seaweedfs: SeaweedFS) -> AsyncIterator[Objects]:
    async with Objects.from_url(seaweedfs.url(seaweedfs.new_bucket(), **TIMEOUTS), {}) as opened:
        yield opened


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def reader(
    data: bytes, piece: int = 100_000, after: Callable[[int], object] | None = None
) -> AsyncIterator[memoryview]:
    """``data`` in pieces (memoryviews, as a request body hands them over); ``after(offset)`` runs after each."""
    view = memoryview(data)
    for offset in range(0, len(data), piece):
        yield view[offset : offset + piece]
        if after is not None:
            after(offset + piece)


async def read_all(objects: Objects, key: str, start: int, length: int) -> bytes:
    return b"".join([piece async for piece in objects.get(key, start, length)])


def etag(seaweedfs: SeaweedFS, objects: Objects, key: str) -> str:
    return seaweedfs.client.head_object(Bucket=objects.config.bucket, Key=key)["ETag"].strip('"')


@pytest.mark.parametrize("size", [0, 1, 5 * MiB, PART_SIZE])
async def test_a_body_of_at_most_one_part_is_one_put(
    seaweedfs: SeaweedFS, objects: Objects, size: int
) -> None:
    data = data_of(size)
    assert await objects.put("small", reader(data)) == (size, hashlib.md5(data).hexdigest())
    assert await read_all(objects, "small", 0, size) == data
    assert etag(seaweedfs, objects, "small") == hashlib.md5(data).hexdigest()  # PutObject's ETag: the MD5


@pytest.mark.parametrize(
    "piece", [65_536, 3 * MiB, 20 * MiB], ids=["64KiB-pieces", "3MiB-pieces", "one-piece"]
)
async def test_a_larger_body_goes_up_in_parts(seaweedfs: SeaweedFS, objects: Objects, piece: int) -> None:
    data = data_of(2 * PART_SIZE + 12345, seed=1)
    assert await objects.put("big", reader(data, piece)) == (len(data), hashlib.md5(data).hexdigest())
    assert await read_all(objects, "big", 0, len(data)) == data
    # A multipart upload's ETag is "<MD5 of the parts' MD5s>-<number of parts>".
    assert etag(seaweedfs, objects, "big").endswith("-3")
    assert seaweedfs.multipart_uploads(objects.config.bucket) == []


class ReaderFailed(Exception):
    pass


@pytest.mark.parametrize("fail_at", [3 * MiB, PART_SIZE + 2 * MiB], ids=["before-any-part", "after-a-part"])
async def test_a_reader_that_fails_leaves_nothing(
    seaweedfs: SeaweedFS, objects: Objects, fail_at: int
) -> None:
    def fail(offset: int) -> None:
        if offset >= fail_at:
            raise ReaderFailed

    with pytest.raises(ReaderFailed):
        await objects.put("broken", reader(data_of(3 * PART_SIZE), MiB, after=fail))
    assert seaweedfs.keys(objects.config.bucket) == []
    assert seaweedfs.multipart_uploads(objects.config.bucket) == []


async def test_ranged_reads(objects: Objects) -> None:
    data = data_of(3 * MiB + 7, seed=2)
    await objects.put("ranged", reader(data))
    size = len(data)
    assert await read_all(objects, "ranged", 0, 1) == data[:1]
    assert await read_all(objects, "ranged", MiB + 3, 1000) == data[MiB + 3 : MiB + 1003]
    assert await read_all(objects, "ranged", size - 1, 1) == data[-1:]
    assert await read_all(objects, "ranged", 0, size) == data
    assert await read_all(objects, "ranged", size, 0) == b""
    pieces = [len(piece) async for piece in objects.get("ranged", 0, size)]
    assert max(pieces) <= 256 * 1024 and sum(pieces) == size  # streamed, never the whole object at once
    with pytest.raises(ShortObject):
        await read_all(objects, "ranged", size - 10, 11)  # past the end
    with pytest.raises(ShortObject):
        await read_all(objects, "ranged", size, 1)  # S3's 416
    with pytest.raises(NotFound):
        await read_all(objects, "missing", 0, 1)


async def test_a_read_left_early_frees_its_connection(objects: Objects) -> None:
    data = data_of(4 * MiB, seed=3)
    await objects.put("left", reader(data))
    for _ in range(15):  # more than the connection pool holds (10): each must have been released
        stream = objects.get("left", 0, len(data))
        first = await anext(stream)
        assert first and data.startswith(first)
        await stream.aclose()
    assert await read_all(objects, "left", 5, 5) == data[5:10]


async def test_compose_concatenates_in_order_and_hashes(seaweedfs: SeaweedFS, objects: Objects) -> None:
    chunks = [data_of(MiB, seed=i) for i in range(20)] + [data_of(12345, seed=99)]
    for i, chunk in enumerate(chunks):
        await objects.put(f"chunks/{i}", reader(chunk))
    whole = b"".join(chunks)
    sources = [(f"chunks/{i}", len(chunk)) for i, chunk in enumerate(chunks)]
    assert await objects.compose("file", sources) == (len(whole), hashlib.md5(whole).hexdigest())
    assert await read_all(objects, "file", 0, len(whole)) == whole
    assert seaweedfs.multipart_uploads(objects.config.bucket) == []


async def test_compose_with_a_missing_source_leaves_nothing(seaweedfs: SeaweedFS, objects: Objects) -> None:
    first = data_of(PART_SIZE + MiB)
    await objects.put("chunks/0", reader(first))
    with pytest.raises(NotFound):
        await objects.compose("file", [("chunks/0", len(first)), ("chunks/1", MiB)])
    assert seaweedfs.keys(objects.config.bucket) == ["chunks/0"]
    assert seaweedfs.multipart_uploads(objects.config.bucket) == []


async def test_delete_exists_and_size(objects: Objects) -> None:
    for name in ("a", "b", "c"):
        await objects.put(name, reader(name.encode() * 10))
    assert await objects.size("b") == 10 and await objects.exists("b")
    await objects.delete(["a", "b", "never-there"])  # a missing key is no error
    assert [await objects.exists(name) for name in ("a", "b", "c")] == [False, False, True]
    with pytest.raises(NotFound):
        await objects.size("a")
    await objects.delete([])


async def test_keys_live_under_the_prefix(seaweedfs: SeaweedFS) -> None:
    bucket = seaweedfs.new_bucket()
    async with Objects.from_url(seaweedfs.url(bucket).replace("?", "/node-a?", 1), {}) as prefixed:
        await prefixed.put("x", reader(b"hello"))
        assert await read_all(prefixed, "x", 0, 5) == b"hello"
    assert seaweedfs.keys(bucket) == ["node-a/x"]


async def test_abort_stale_multipart(seaweedfs: SeaweedFS) -> None:
    bucket = seaweedfs.new_bucket()
    for key in ("mine/left-by-a-crash", "other/not-mine"):  # as a process that died mid-put leaves them
        seaweedfs.client.create_multipart_upload(Bucket=bucket, Key=key)
    async with Objects.from_url(seaweedfs.url(bucket).replace("?", "/mine?", 1), {}) as objects:
        assert await objects.abort_stale_multipart(older_than_seconds=3600) == 0  # too young: maybe in use
        assert len(seaweedfs.multipart_uploads(bucket)) == 2
        assert await objects.abort_stale_multipart(older_than_seconds=0) == 1
    assert [upload["Key"] for upload in seaweedfs.multipart_uploads(bucket)] == ["other/not-mine"]


async def test_a_missing_bucket_is_a_clear_error(seaweedfs: SeaweedFS) -> None:
    with pytest.raises(RuntimeError, match="S3 has no bucket 'no-such-bucket'"):
        async with Objects.from_url(seaweedfs.url("no-such-bucket", **TIMEOUTS), {}):
            pass


# -- outages ---------------------------------------------------------------------------------------------------


@pytest.fixture
def outage(seaweedfs: SeaweedFS) -> Iterator[SeaweedFS]:
    """The session's S3 server, started again (and thawed) after the test whatever happened to it."""
    yield seaweedfs
    if seaweedfs.running:
        seaweedfs.thaw()
    else:
        seaweedfs.start()


@pytest.fixture
async def impatient(outage: SeaweedFS, objects: Objects) -> AsyncIterator[Objects]:
    """A second client of ``objects``' bucket, with the short timeouts."""
    async with Objects.from_url(outage.url(objects.config.bucket, **SHORT_TIMEOUTS), {}) as opened:
        yield opened


async def test_s3_stopped_mid_put_then_back(outage: SeaweedFS, objects: Objects, impatient: Objects) -> None:
    data = data_of(3 * PART_SIZE, seed=4)
    bucket = objects.config.bucket

    def stop_after_first_part(offset: int) -> None:
        if offset == PART_SIZE + MiB and outage.running:
            outage.stop()  # killed: connections refused from now on

    async with asyncio.timeout(HANG_BOUND):
        with pytest.raises(DependencyUnavailable) as raised:
            await impatient.put("cut", reader(data, MiB, after=stop_after_first_part))
        assert raised.value.dependency == "S3" and "writing part 2 of cut" in str(raised.value)
        with pytest.raises(DependencyUnavailable):
            await impatient.size("cut")
        with pytest.raises(DependencyUnavailable):
            await read_all(impatient, "cut", 0, 1)

    outage.start()  # same ports, same data: the same clients work again

    async def writable() -> bool:  # a restarted SeaweedFS may take a few seconds before it takes writes
        try:
            await impatient.put("probe", reader(b"probe"))
        except DependencyUnavailable:
            return False
        return True

    await async_wait_until(writable, HANG_BOUND, "the restarted S3 to take writes")
    await impatient.delete(["probe"])
    assert await objects.put("after", reader(data)) == (len(data), hashlib.md5(data).hexdigest())
    assert await read_all(impatient, "after", 0, len(data)) == data
    assert outage.keys(bucket) == ["after"]
    assert len(outage.multipart_uploads(bucket)) == 1  # the cut one: its abort could not reach S3 ...
    assert await objects.abort_stale_multipart(0) == 1  # ... so the sweep aborts it
    assert outage.multipart_uploads(bucket) == []


async def test_s3_hung_mid_read_and_mid_write(
    outage: SeaweedFS, objects: Objects, impatient: Objects
) -> None:
    """A server that accepts connections and answers nothing: bounded by the read and request timeouts."""
    data = data_of(2 * PART_SIZE, seed=5)
    await objects.put("whole", reader(data))
    stream = impatient.get("whole", 0, len(data))
    await anext(stream)
    outage.freeze()
    async with asyncio.timeout(HANG_BOUND):
        with pytest.raises(DependencyUnavailable, match="Read timeout"):
            async for _ in stream:  # what the connection had buffered, then nothing: the read timeout
                pass
        with pytest.raises(DependencyUnavailable, match="no answer within 2 s"):
            await impatient.put("stalled", reader(data[:PART_SIZE]))  # a body S3 stops taking
    outage.thaw()
    assert await read_all(impatient, "whole", PART_SIZE, 10) == data[PART_SIZE : PART_SIZE + 10]
