"""The cluster backend's bytes in S3: streamed puts, ranged gets, assembly from chunk objects, clean-up.

``Objects`` is a thin layer over one aiobotocore S3 client, configured by an ``s3://`` URL
(``parse_s3_url``, pure). It knows nothing of uploads or chunks: it stores a stream under a key and reads a
range of one back, and memory stays bounded whatever the size:

- ``put`` pulls a body from an async reader. A body of at most one part goes up as one ``PutObject``; a larger
  one as a multipart upload, one ``PART_SIZE`` part at a time (one part buffered). If anything fails, the
  multipart upload is aborted and the error propagates: nothing becomes visible under the key.
- ``get`` is one ranged ``GetObject`` streamed in ``READ_SIZE`` pieces.
- ``compose`` writes one object from others, in order: each source is read (streamed), hashed and written as
  the parts of a new multipart upload. One ordered pass: the whole file's MD5 comes out on the way.
- ``abort_stale_multipart`` aborts the multipart uploads older than a threshold that a crashed or cut-off
  ``put``/``compose`` left behind (their parts are stored, and billed, until then).

The MD5 of what is written is computed off the event loop (``server.offloop_md5``), beside the network I/O.

Errors: S3 that cannot be reached, drops the connection, does not answer within the timeouts (connect and
read per attempt; ``request_timeout`` for a whole request, retries included, which also bounds a body S3 has
stopped taking), or answers 5xx or "slow down" after botocore's retries raises
``DependencyUnavailable("S3", ...)`` (the original chained);
a missing key raises ``NotFound`` (a ``KeyError``); anything else S3 refuses (access denied, a missing
bucket) is a ``botocore`` ``ClientError`` as S3 said it. Errors raised by a caller's reader pass through
unchanged: a client that went away while its chunk was read is not S3 being unavailable.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Self
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore import exceptions as boto

from server.offloop_md5 import OffLoopMD5
from server.storage.cluster.errors import DependencyUnavailable
from server.storage.contract import Buffer

log = logging.getLogger(__name__)

MiB: Final = 1024 * 1024
# S3 multipart upload limits: "Part size: 5 MiB to 5 GiB. There is no minimum size limit on the last part of
# your multipart upload." and "Part numbers: 1 to 10,000 (inclusive)". With 8 MiB parts an object made here
# can be up to 78 GiB.
PART_SIZE: Final = 8 * MiB
MIN_PART_SIZE: Final = 5 * MiB
MAX_PARTS: Final = 10_000
assert PART_SIZE >= MIN_PART_SIZE
# DeleteObjects: "The request can contain a list of up to 1,000 keys that you want to delete."
DELETE_BATCH: Final = 1000
READ_SIZE: Final = 256 * 1024  # the pieces a GET's body is handed on in

DEFAULT_REGION: Final = "us-east-1"
# Error codes S3 sends when it is overloaded or failing rather than refusing the request: the request may
# work later. (5xx statuses are covered by their status; RequestTimeout is a 400.)
UNAVAILABLE_CODES: Final = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "ThrottlingException"}
)
NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NotFound", "404"})  # HEAD answers carry only the status
# Failures to talk to S3 at all: refused, reset or dropped connections, timeouts (after botocore's retries).
UNREACHABLE: Final = (
    boto.ConnectionError,  # refused, connect timeout, TLS
    boto.HTTPClientError,  # closed or reset mid-way, read timeout, body cut short
    boto.IncompleteReadError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)


class NotFound(KeyError):
    """No object under this key."""


class ShortObject(RuntimeError):
    """An object holds fewer bytes than its reader asked for."""


class TooLarge(ValueError):
    """A body needs more parts than S3 allows in one multipart upload."""


# -- configuration (pure) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Config:
    """Where the objects are and how to reach them. Keys are stored under ``prefix`` in ``bucket``."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None  # None: AWS's own endpoint for the region
    region: str = DEFAULT_REGION
    access_key: str | None = None  # None: botocore's usual search (profiles, instance roles)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    addressing_style: str = "auto"  # "path" for most S3-compatible servers (MinIO, SeaweedFS, Ceph)
    connect_timeout: float = 5.0  # seconds, per attempt
    read_timeout: float = 30.0  # seconds without a byte from S3, per attempt
    max_attempts: int = 3  # botocore's "standard" retries: attempts in all, the first included
    # Seconds for one S3 request, its retries included. The socket timeouts above do not cover a request body
    # that S3 stopped taking (a hung server accepts the connection and then nothing): this does.
    request_timeout: float = 120.0

    @property
    def where(self) -> str:
        """For messages: the endpoint and bucket (never a secret)."""
        return f"{self.endpoint or f'AWS S3 ({self.region})'}, bucket {self.bucket}"


URL_PARAMETERS: Final = frozenset(
    {
        "endpoint",
        "region",
        "access_key",
        "secret_key",
        "session_token",
        "addressing_style",
        "connect_timeout",
        "read_timeout",
        "max_attempts",
        "request_timeout",
    }
)
# The standard AWS environment variables, for what the URL does not say (the URL wins).
ENVIRONMENT: Final = {
    "endpoint": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "access_key": ("AWS_ACCESS_KEY_ID",),
    "secret_key": ("AWS_SECRET_ACCESS_KEY",),
    "session_token": ("AWS_SESSION_TOKEN",),
}
# S3 bucket naming rules: "Bucket names must be between 3 (min) and 63 (max) characters long", "can consist
# only of lowercase letters, numbers, periods (.), and hyphens (-)", "must begin and end with a letter or
# number".
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def parse_s3_url(url: str, env: Mapping[str, str] | None = None) -> S3Config:
    """``s3://<bucket>[/<prefix>]?endpoint=<url>&region=..&access_key=..&secret_key=..`` as an ``S3Config``.

    Also ``session_token``, ``addressing_style`` (path, virtual, auto: path when an endpoint is given),
    ``connect_timeout``, ``read_timeout``, ``request_timeout`` (seconds) and ``max_attempts``. What the URL leaves out is taken
    from ``env`` (the standard AWS variables). Raises ``ValueError`` with a message that names no secret."""
    env = env or {}
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError("an S3 location is s3://<bucket>[/<prefix>]?endpoint=...")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"not an S3 bucket name: {bucket!r} (3 to 63 lowercase letters, digits, dots and hyphens)"
        )
    params = _query(parts.query)
    settings = {
        name: params.get(name) or next((env[var] for var in variables if env.get(var)), None)
        for name, variables in ENVIRONMENT.items()
    }
    endpoint = settings["endpoint"]
    if endpoint is not None:
        _check_endpoint(endpoint)
    if (settings["access_key"] is None) != (settings["secret_key"] is None):
        raise ValueError("S3: give both an access key and a secret key, or neither")
    addressing = params.get("addressing_style", "path" if endpoint else "auto")
    if addressing not in ("path", "virtual", "auto"):
        raise ValueError(f"S3 addressing_style is path, virtual or auto, not {addressing!r}")
    prefix = parts.path.strip("/")
    return S3Config(
        bucket=bucket,
        prefix=f"{prefix}/" if prefix else "",
        endpoint=endpoint,
        region=settings["region"] or DEFAULT_REGION,
        access_key=settings["access_key"],
        secret_key=settings["secret_key"],
        session_token=settings["session_token"],
        addressing_style=addressing,
        connect_timeout=_positive(params, "connect_timeout", S3Config.connect_timeout),
        read_timeout=_positive(params, "read_timeout", S3Config.read_timeout),
        max_attempts=int(_positive(params, "max_attempts", S3Config.max_attempts)),
        request_timeout=_positive(params, "request_timeout", S3Config.request_timeout),
    )


def _query(query: str) -> dict[str, str]:
    """The URL's parameters, each given once and all known."""
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - URL_PARAMETERS)
    if unknown:
        raise ValueError(f"unknown S3 URL parameter(s): {', '.join(unknown)}")
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        raise ValueError(f"S3 URL parameter(s) given more than once: {', '.join(repeated)}")
    return {name: values[0] for name, values in params.items()}


def _check_endpoint(endpoint: str) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the S3 endpoint is an http:// or https:// URL, not {endpoint!r}")


def _positive(params: Mapping[str, str], name: str, default: float) -> float:
    if name not in params:
        return default
    try:
        value = float(params[name])
    except ValueError:
        value = 0
    if not value > 0 or (name == "max_attempts" and value != int(value)):
        raise ValueError(f"S3 URL parameter {name} must be a positive number, not {params[name]!r}")
    return value


# -- the objects ---------------------------------------------------------------------------------------------


class Objects:
    """Objects in one S3 bucket (under the configured prefix). ``open()`` before use, ``close()`` after."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._stack = AsyncExitStack()
        self._client: Any = None

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] | None = None) -> Objects:
        return cls(parse_s3_url(url, env))

    async def open(self, check: bool = True) -> None:
        """Make the client; with ``check``, make sure the bucket is there and ours (a clear error if not)."""
        c = self.config
        config = AioConfig(
            connect_timeout=c.connect_timeout,
            read_timeout=c.read_timeout,
            retries={"max_attempts": c.max_attempts, "mode": "standard"},
            s3={"addressing_style": c.addressing_style},
            # Only where S3 demands one (DeleteObjects): no CRC of every part (MD5 is computed anyway).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = get_session().create_client(
            "s3",
            endpoint_url=c.endpoint,
            region_name=c.region,
            aws_access_key_id=c.access_key,
            aws_secret_access_key=c.secret_key,
            aws_session_token=c.session_token,
            config=config,
        )
        self._client = await self._stack.enter_async_context(client)
        if check:
            await self._check_bucket()

    async def _check_bucket(self) -> None:
        try:
            await self._call("head_bucket", "checking the bucket")
        except NotFound as exc:
            raise RuntimeError(f"S3 has no bucket {self.config.bucket!r} ({self.config.where})") from exc
        except boto.ClientError as exc:  # 403: these credentials may not use it
            raise RuntimeError(f"S3 refused the bucket ({self.config.where}): {exc}") from exc

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- writing ----------------------------------------------------------------------------------------------

    async def put(self, key: str, reader: AsyncIterable[Buffer]) -> tuple[int, str]:
        """Store what ``reader`` yields under ``key``; its size and MD5 (hex). Nothing is visible under ``key``
        unless the whole body is stored; if the reader or S3 fails, the error propagates."""
        return await self._write(key, reader)

    async def compose(self, dest_key: str, sources: Sequence[tuple[str, int]]) -> tuple[int, str]:
        """Write ``dest_key`` as the concatenation of ``sources`` (key, size), in order: each is streamed,
        hashed and written into the parts of one multipart upload. The result's size and MD5 (hex)."""

        async def pieces() -> AsyncIterator[bytes]:
            for key, size in sources:
                async for data in self.get(key, 0, size):
                    yield data

        return await self._write(dest_key, pieces())

    async def _write(self, key: str, pieces: AsyncIterable[Buffer]) -> tuple[int, str]:
        tally = _Tally()
        upload: _Multipart | None = None
        try:
            async with aclosing(_parts(pieces, tally.feed)) as parts:
                async for part, last in parts:
                    await tally.hashing.wait()  # all fed is hashed: nothing is held but this part
                    if last and upload is None:  # at most one part in all: one PutObject
                        await self._put_object(key, part, tally.md5.digest())
                    else:
                        upload = upload or await self._create_multipart(key)
                        await upload.add(part)
            if upload is not None:
                await upload.complete()
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise
        return tally.size, tally.md5.hexdigest()

    async def _put_object(self, key: str, body: bytearray, md5: bytes) -> None:
        # Content-MD5 (RFC 1864, base64 of the digest): S3 refuses the body if it arrives changed.
        content_md5 = base64.b64encode(md5).decode()
        await self._call(
            "put_object", f"writing {key}", Key=self._key(key), Body=body, ContentMD5=content_md5
        )

    async def _create_multipart(self, key: str) -> _Multipart:
        response = await self._call("create_multipart_upload", f"writing {key}", Key=self._key(key))
        return _Multipart(self, key, response["UploadId"])

    # -- reading ----------------------------------------------------------------------------------------------

    async def get(self, key: str, start: int, length: int) -> AsyncIterator[bytes]:
        """``length`` bytes of ``key`` from ``start``, streamed in pieces of at most ``READ_SIZE``."""
        if start < 0 or length < 0:
            raise ValueError(f"no range of {length} bytes from {start}")
        if length == 0:
            return
        what = f"reading {key}"
        try:
            # RFC 9110 section 14.1.2: "bytes=first-last", both positions inclusive.
            response = await self._call(
                "get_object", what, Key=self._key(key), Range=f"bytes={start}-{start + length - 1}"
            )
        except boto.ClientError as exc:
            if _code(exc) == "InvalidRange":  # 416: the object ends before ``start``
                raise ShortObject(f"{key} has no byte at {start}") from exc
            raise
        body = response["Body"]
        got = 0
        try:
            _check_range(key, response, start, length)
            while got < length:
                with self._translated(what):
                    data = await body.read(min(READ_SIZE, length - got))
                if not data:
                    break
                got += len(data)
                yield data
        finally:
            body.close()
        if got < length:
            raise ShortObject(f"{key} has {got} bytes from {start}, not {length}")

    async def size(self, key: str) -> int:
        """The size of ``key``; ``NotFound`` when there is no such object."""
        response = await self._call("head_object", f"looking up {key}", Key=self._key(key))
        return int(response["ContentLength"])

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except NotFound:
            return False
        return True

    # -- removing ---------------------------------------------------------------------------------------------

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete these objects (those already gone are no error), up to ``DELETE_BATCH`` per request."""
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                await self._delete_batch(batch)
                batch = []
        if batch:
            await self._delete_batch(batch)

    async def _delete_batch(self, keys: list[str]) -> None:
        what = f"deleting {len(keys)} object(s)"
        objects = [{"Key": self._key(key)} for key in keys]
        response = await self._call("delete_objects", what, Delete={"Objects": objects, "Quiet": True})
        errors = response.get("Errors", [])
        if not errors:
            return
        summary = ", ".join(f"{e.get('Key')}: {e.get('Code')}" for e in errors[:5])
        if any(e.get("Code") in UNAVAILABLE_CODES for e in errors):
            raise DependencyUnavailable("S3", f"{what}: {len(errors)} not deleted ({summary})")
        raise RuntimeError(f"S3 did not delete {len(errors)} object(s): {summary}")

    async def abort_stale_multipart(self, older_than_seconds: float) -> int:
        """Abort the multipart uploads (under our prefix) started more than ``older_than_seconds`` ago; how
        many were aborted. S3 keeps, and bills, the parts of an upload until it is completed or aborted; a
        process that died mid-``put`` leaves one behind. The threshold must exceed the longest ``put`` or
        ``compose``: another process may still be writing a younger one."""
        stale = await self._multipart_started_before(time.time() - older_than_seconds)
        aborted = 0
        for key, upload_id in stale:
            try:
                await self._call("abort_multipart_upload", f"aborting {key}", Key=key, UploadId=upload_id)
                aborted += 1
            except boto.ClientError as exc:
                if _code(exc) != "NoSuchUpload":  # completed or aborted meanwhile: nothing to do
                    raise
        return aborted

    async def keys_before(self, cutoff: float) -> list[str]:
        """The keys (under our prefix, given without it) of the objects last modified at or before
        ``cutoff``."""
        keys = []
        with self._translated("listing objects"):
            async with asyncio.timeout(self.config.request_timeout):
                # ListObjectsV2 returns at most 1,000 keys per response: the paginator follows the tokens.
                paginator = self._opened().get_paginator("list_objects_v2")
                pages = paginator.paginate(Bucket=self.config.bucket, Prefix=self.config.prefix)
                async for page in pages:
                    for item in page.get("Contents", []):
                        if item["LastModified"].timestamp() <= cutoff:
                            keys.append(item["Key"][len(self.config.prefix) :])
        return keys

    async def _multipart_started_before(self, cutoff: float) -> list[tuple[str, str]]:
        """(key, upload id) of the multipart uploads under our prefix initiated at or before ``cutoff``."""
        stale = []
        with self._translated("listing multipart uploads"):
            async with asyncio.timeout(self.config.request_timeout):
                # ListMultipartUploads returns at most 1,000 uploads per response: the paginator follows
                # the markers.
                paginator = self._opened().get_paginator("list_multipart_uploads")
                pages = paginator.paginate(Bucket=self.config.bucket, Prefix=self.config.prefix)
                async for page in pages:
                    for upload in page.get("Uploads", []):
                        if upload["Initiated"].timestamp() <= cutoff:
                            stale.append((upload["Key"], upload["UploadId"]))
        return stale

    # -- talking to S3 ----------------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.config.prefix + key

    async def _call(self, operation: str, what: str, **params: Any) -> Any:
        """One S3 operation on our bucket, its failures translated (``_translated``)."""
        client = self._opened()
        with self._translated(what):
            async with asyncio.timeout(self.config.request_timeout):
                return await getattr(client, operation)(Bucket=self.config.bucket, **params)

    def _opened(self) -> Any:
        if self._client is None:
            raise RuntimeError("Objects used before open()")
        return self._client

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """S3 unreachable or failing -> ``DependencyUnavailable``; a missing key -> ``NotFound``."""
        try:
            yield
        except boto.ClientError as exc:
            code, status = _code(exc), _status(exc)
            if code in NOT_FOUND_CODES:
                raise NotFound(what) from exc
            if status >= 500 or code in UNAVAILABLE_CODES:
                detail = f"{what}: {self.config.where} answered {status} {code}"
                raise DependencyUnavailable("S3", detail) from exc
            raise
        except UNREACHABLE as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if type(exc) is TimeoutError:  # ours (request_timeout): botocore's own say what timed out
                reason = f"no answer within {self.config.request_timeout:g} s"
            detail = f"{what}: {self.config.where} cannot be reached ({reason})"
            raise DependencyUnavailable("S3", detail) from exc


class _Multipart:
    """A multipart upload being written: the parts sent so far, for CompleteMultipartUpload."""

    def __init__(self, objects: Objects, key: str, upload_id: str) -> None:
        self.objects, self.key, self.upload_id = objects, key, upload_id
        self.parts: list[dict[str, Any]] = []

    async def add(self, body: bytearray) -> None:
        number = len(self.parts) + 1
        if number > MAX_PARTS:  # "Part numbers: 1 to 10,000 (inclusive)"
            raise TooLarge(f"{self.key}: more than {MAX_PARTS} parts of {PART_SIZE} bytes")
        response = await self.objects._call(
            "upload_part",
            f"writing part {number} of {self.key}",
            Key=self.objects._key(self.key),
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def complete(self) -> None:
        await self.objects._call(
            "complete_multipart_upload",
            f"completing {self.key}",
            Key=self.objects._key(self.key),
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        """Abort it (its parts are dropped); a failure is logged, not raised: the caller is already handling
        an error, and ``abort_stale_multipart`` aborts what is left later."""
        try:
            await self.objects._call(
                "abort_multipart_upload",
                f"aborting {self.key}",
                Key=self.objects._key(self.key),
                UploadId=self.upload_id,
            )
        except Exception as exc:  # noqa: BLE001 - reported; the original error propagates
            log.warning("multipart upload of %s not aborted (left for the stale sweep): %s", self.key, exc)


class _Tally:
    """The size and MD5 of the bytes written, hashed off the loop as they pass."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.hashing = OffLoopMD5(self.md5)
        self.size = 0

    def feed(self, data: memoryview) -> None:
        self.hashing.feed(data)
        self.size += data.nbytes


async def _parts(
    pieces: AsyncIterable[Buffer], seen: Callable[[memoryview], None]
) -> AsyncIterator[tuple[bytearray, bool]]:
    """The bytes of ``pieces`` cut into parts of ``PART_SIZE`` (the last one shorter, maybe empty), each with
    whether it is the last. A full part is handed on only once a byte past it arrives, so a body of exactly
    one part is one part; ``seen`` gets every piece as it arrives."""
    part = bytearray()
    async for piece in pieces:
        view = memoryview(piece).cast("B")
        seen(view)
        while view:
            if len(part) == PART_SIZE:
                yield part, False
                part = bytearray()
            room = PART_SIZE - len(part)
            part += view[:room]
            view = view[room:]
    yield part, True


def _check_range(key: str, response: Mapping[str, Any], start: int, length: int) -> None:
    """A server that ignored the Range answers 200 with the whole object: only right if that is the range."""
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    if status != 206 and not (status == 200 and start == 0 and response.get("ContentLength") == length):
        raise RuntimeError(f"S3 answered {status} to a range request for {key}")


def _code(exc: boto.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: boto.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
