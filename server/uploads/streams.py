"""Stream uploads (tus 1.0, the IETF resumable-upload draft): an upload resource with an offset, appended to.

A stream upload is a store ``Upload`` without a chunk list: each append that brought bytes is its next chunk,
so its offset is the sum of its kept chunks, and that is only ever reported once they are kept (never goes
back: a chunk is recorded after its bytes are in place, ``--fsync`` saying what survives a power loss). The
decisions, as for the seed's protocol (``service.UploadService``, whose locks, ``TailGate``, space checks
and background assembly this shares, so both protocols work on the same storage):

- an append must start at the upload's offset (else ``409 OFFSET_MISMATCH``), and one append at a time
  writes to an upload: a second one meanwhile is refused (``423 UPLOAD_LOCKED``; the draft would rather end
  the older one, but a refusal leaves nothing ambiguous, and clients retry it);
- bytes past the declared length are refused, nothing of that append kept (``413 PAST_UPLOAD_LENGTH``);
- a body cut off before its end keeps what arrived ("The Server SHOULD always attempt to store as much of
  the received data as possible"), unless it carried a checksum: then nothing of it is kept, as when the
  checksum does not match (``460 CHECKSUM_MISMATCH``);
- when the offset reaches the length, the file is assembled and published under its MD5 (the same file the
  seed's protocol finds by its fileId), offered under the extension and name its metadata gave; the upload
  resource stays, complete, until it expires or is deleted;
- tus's concatenation: a *partial* upload is never published ("The Server SHOULD NOT process these partial
  uploads until they are concatenated"); a *final* one is made, when it is created, of complete partial
  uploads read in order (``Store.read_upload``) into a new upload, which is then published; the partial
  uploads stay until they expire ("The Client ... MAY attempt to use a partial upload multiple times").
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from server.errors import ApiError, E
from server.offloop_md5 import OffLoopMD5
from server.resumable.tus_headers import Checksum
from server.storage.contract import AssemblesInPlace, Buffer, StagedChunk, Upload
from server.uploads.coordination import Claim
from wire import names

if TYPE_CHECKING:
    from server.uploads.service import UploadService

log = logging.getLogger(__name__)


class StreamBody(Protocol):
    """An append's bytes as the handler delivers them. ``cut`` turns true when the body ended before its end
    (the client went away, or stopped sending): what arrived until then is good, it simply stops."""

    cut: bool

    def __aiter__(self) -> AsyncIterator[Buffer]: ...


def offset_of(upload: Upload) -> int:
    """How many bytes of the upload are kept (its length, once published)."""
    if upload.published is not None:
        return upload.size or 0
    return sum(upload.stored.values())


async def _digest(pieces: AsyncIterator[bytes], algorithm: str) -> bytes:
    """The ``algorithm`` digest of bytes read back from the store, hashed beside the loop."""
    hasher = OffLoopMD5(hashlib.new(algorithm))
    async for piece in pieces:
        hasher.feed(piece)
    await hasher.wait()
    return hasher.digests[0].digest()


class _Counted:
    """The body as the store pulls it: counted against the room left, hashed for a checksum on the way."""

    def __init__(self, body: StreamBody, room: int, checksum: Checksum | None) -> None:
        self._body = body
        self._room = room
        self.hasher = OffLoopMD5(hashlib.new(checksum.algorithm)) if checksum is not None else None

    async def __aiter__(self) -> AsyncIterator[Buffer]:
        async for piece in self._body:
            self._room -= len(piece)
            if self._room < 0:
                raise ApiError(
                    E.PAST_UPLOAD_LENGTH,
                    "the data goes past the upload's length (Upload-Length); nothing of this request was kept",
                )
            if self.hasher is not None:
                self.hasher.feed(piece)
            yield piece

    async def digest(self) -> bytes | None:
        if self.hasher is None:
            return None
        await self.hasher.wait()
        return self.hasher.digests[0].digest()


class StreamUploads:
    def __init__(self, uploads: UploadService) -> None:
        self._uploads = uploads
        self.store = uploads.store
        self.settings = uploads.settings
        self.clock = uploads.clock

    def expires_at(self, upload: Upload) -> float:
        """When the sweep forgets the upload unless it is used again (``--upload-ttl-seconds``; an upload no
        byte of which arrived: ``--empty-upload-ttl-seconds``)."""
        busy = upload.stored or upload.published is not None
        ttl = self.settings.upload_ttl_seconds if busy else self.settings.empty_upload_ttl_seconds
        return upload.updated_at + ttl

    @staticmethod
    def protocol_info(upload: Upload) -> dict[str, object]:
        """What the protocol that created the upload keeps with it (``create``'s ``info``)."""
        info = json.loads(upload.info or "{}")
        return info if isinstance(info, dict) else {}

    async def get(self, key: str) -> Upload | None:
        """The stream upload ``key``; one left complete but unpublished is published first."""
        upload = await self._lookup(key)
        if upload is not None and self._stranded(upload):
            upload = await self._settle(upload)
        return upload

    async def _lookup(self, key: str) -> Upload | None:
        upload = await self.store.get_upload(key)
        return upload if upload is not None and upload.chunk_ids is None else None

    def _stranded(self, upload: Upload) -> bool:
        """Every byte kept but not published: its assembly failed (S3 or PostgreSQL out of reach) or its
        process died between keeping the last bytes and publishing. Its offset says complete, so a client
        asks nothing more: the next look at it publishes it."""
        return (
            upload.published is None
            and upload.size is not None
            and offset_of(upload) == upload.size
            and self.protocol_info(upload).get("concat") != "partial"
        )

    async def _settle(self, upload: Upload) -> Upload | None:
        """Publish a stranded upload, unless a request holds its end (it is publishing it now)."""
        token = await self._uploads.tails.try_claim(upload.key)
        if token is None:
            return upload
        try:
            async with self._uploads.locks.hold(upload.key):
                current = await self._lookup(upload.key)
                if current is None or not self._stranded(current):
                    return current
                return await self._finish(current)
        finally:
            await self._uploads.tails.release(upload.key, token)

    async def create(
        self, size: int | None, name: str | None, info: dict[str, object], client: str | None = None
    ) -> Upload:
        """A new upload of ``size`` bytes (None: told later) whose file is offered under ``name``, started by
        ``client`` (it counts among that client's unfinished uploads, ``--max-uploads-per-client``)."""
        self._check_length(size)
        await self._uploads.check_space(0)
        limit = self.settings.max_uploads_in_progress
        if await self.store.count_uploads(holding_bytes=True) >= limit:
            raise ApiError(
                E.TOO_MANY_UPLOADS,
                f"{limit} uploads holding data are in progress, the most this server keeps; try again later",
            )
        if client is not None:
            await self._uploads.check_client_uploads(client)
        # Not 32 hex digits: a stream upload's key can never be a fileId of the seed's protocol.
        key = secrets.token_urlsafe(18)
        text = json.dumps({**info, "name": name}, ensure_ascii=False)
        upload = await self.store.create_upload(key, None, size, self.clock(), text, owner=client)
        if size == 0:  # "Such an upload is immediately complete after its creation"
            async with self._uploads.locks.hold(key):
                upload = await self._finish(upload)
        return upload

    async def concatenate(
        self, keys: list[str], name: str | None, info: dict[str, object], client: str | None = None
    ) -> Upload:
        """A final upload made of these complete partial uploads, in order, published at once."""
        partials = [await self._found(key) for key in keys]
        for partial in partials:
            complete = partial.size is not None and offset_of(partial) == partial.size
            if self.protocol_info(partial).get("concat") != "partial" or not complete:
                raise ApiError(
                    E.BAD_UPLOAD_HEADER,
                    f"upload {partial.key} is not a complete partial upload (Upload-Concat: partial); concatenate "
                    "partial uploads once they are complete",
                )
        size = sum(partial.size or 0 for partial in partials)
        final = await self.create(size, name, info, client)
        if final.published is not None:  # nothing to read: an empty file
            return final
        tokens = {}
        try:
            for key in [final.key, *dict.fromkeys(keys)]:  # each end held once, so nothing appends meanwhile
                token = await self._uploads.tails.try_claim(key)
                if token is None:
                    raise ApiError(
                        E.UPLOAD_LOCKED, f"upload {key} is being appended to; try again once it ended"
                    )
                tokens[key] = token
            for partial in partials:
                staged = await self._write(final, self.store.read_upload(partial))
                final = await self._keep(final, staged, None)
            async with self._uploads.locks.hold(final.key):
                return await self._finish(final)
        finally:
            for key, token in tokens.items():
                await self._uploads.tails.release(key, token)

    async def append(
        self,
        key: str,
        offset: int,
        body: StreamBody,
        *,
        length: int | None = None,
        checksum: Checksum | None = None,
        complete: bool | None = None,
    ) -> Upload:
        """Append ``body`` at ``offset`` (declaring the upload's ``length`` if it was deferred); the upload
        after it. The upload completes when its offset reaches its length (tus: ``complete`` None), or when
        the client says this append is its last and all of it arrived (the draft: ``complete`` True; False:
        it does not complete)."""
        upload = await self._found(key)
        current = offset_of(upload)
        if length is not None and length != upload.size:
            if upload.size is not None:
                raise ApiError(
                    E.INCONSISTENT_LENGTH,
                    f"Upload-Length is {length}, but the upload's length is {upload.size}: once set it does not "
                    "change",
                )
            self._check_length(length)
            if length < current:
                raise ApiError(
                    E.INCONSISTENT_LENGTH,
                    f"Upload-Length {length} is less than the {current} bytes already kept",
                )
        if self.protocol_info(upload).get("concat") == "final":
            # "The Server MUST respond with the 403 Forbidden status to PATCH requests against a final upload"
            raise ApiError(E.FORBIDDEN, "this upload is the concatenation of others: it takes no data")
        if offset != current:
            raise ApiError(
                E.OFFSET_MISMATCH, f"Upload-Offset is {offset}, but the upload's offset is {current}"
            )
        token = await self._claim(key)
        try:
            if length is not None and upload.size is None:
                await self.store.touch_upload(key, self.clock(), size=length)
                upload = await self._found(key)
            if upload.published is not None:
                await self._refuse_more(body)
                return upload
            await self._uploads.check_space(0)
            room = (upload.size if upload.size is not None else self.settings.max_file_bytes) - current
            counted = _Counted(body, room, checksum)
            staged = await self._write(upload, counted)
            upload = await self._keep(upload, staged, await self._verdict(body, counted, checksum))
            if complete and not body.cut:
                upload = await self._declare_complete(upload)
            if upload.size is not None and offset_of(upload) == upload.size and complete is not False:
                async with self._uploads.locks.hold(key):
                    upload = await self._finish(upload)
        finally:
            await self._uploads.tails.release(key, token)
        if upload.published is None and upload.chunk_count and not self._in_place_ready(upload):
            self._uploads.advance_later(key)  # after a restart: fold the chunks kept meanwhile into the file
        return upload

    async def _declare_complete(self, upload: Upload) -> Upload:
        """The client says the upload ends here: its length is its offset ("The length is then the sum of the
        current offset and the Content-Length"), which must agree with a length given before."""
        offset = offset_of(upload)
        if upload.size is None:
            await self.store.touch_upload(upload.key, self.clock(), size=offset)
            return await self._found(upload.key)
        if upload.size != offset:
            raise ApiError(
                E.INCONSISTENT_LENGTH,
                f"the upload was said to be complete at {offset} bytes, but its length is {upload.size}",
            )
        return upload

    async def repr_digest(self, upload: Upload, algorithm: str) -> bytes | None:
        """The digest of a published upload's whole file (``Want-Repr-Digest``), read back once."""
        if upload.published is None:
            return None
        stored = await self.store.get_file(upload.published)
        if stored is None:
            return None
        return await _digest(self.store.read_file(stored, 0, stored.size), algorithm)

    async def terminate(self, key: str) -> None:
        """Forget the upload and its bytes ("free associated resources"); a file it published stays."""
        upload = await self._found(key)
        async with self._uploads.locks.hold(key):
            await self.store.delete_upload(upload.key)

    async def create_with(self, key: str, first: Callable[[], Awaitable[Upload]]) -> Upload:
        """Run the first append of a just-created upload; if it is refused, the upload goes too, so a refused
        creation leaves nothing behind that nobody could reach."""
        try:
            return await first()
        except ApiError:
            if await self.get(key) is not None:
                await self.terminate(key)
            raise

    # -- the steps --------------------------------------------------------------------------------------------

    async def _claim(self, key: str) -> Claim:
        """The upload's end for this append: after the server's own background assembly if that holds it (it
        folds chunks kept after a restart into the file), refused if another request holds it."""
        tails = self._uploads.tails
        token = await tails.try_claim(key)
        while token is None and tails.held_by_assembly(key):
            await tails.wait_free(key)
            token = await tails.try_claim(key)
        if token is None:
            raise ApiError(
                E.UPLOAD_LOCKED,
                "another request is appending to this upload; try again once it ended (HEAD tells the offset)",
            )
        return token

    async def _found(self, key: str) -> Upload:
        upload = await self.get(key)
        if upload is None:
            raise ApiError(
                E.NOT_FOUND,
                "no upload at this URL: it never existed, was deleted, or expired; start a new upload",
            )
        return upload

    def _check_length(self, size: int | None) -> None:
        limit = self.settings.max_file_bytes
        if size is not None and size > limit:
            raise ApiError(
                E.FILE_TOO_LARGE,
                f"the upload is {size} bytes; this server accepts at most {limit} (Tus-Max-Size)",
            )

    def _in_place_ready(self, upload: Upload) -> bool:
        store = self.store
        return isinstance(store, AssemblesInPlace) and store.tail(upload) == upload.chunk_count

    async def _write(self, upload: Upload, reader: AsyncIterable[Buffer]) -> StagedChunk:
        if self._in_place_ready(upload):
            assert isinstance(self.store, AssemblesInPlace)
            return await self.store.write_chunk_in_place(upload, upload.chunk_count, reader)
        return await self.store.write_chunk(upload, upload.chunk_count, reader)

    @staticmethod
    async def _verdict(body: StreamBody, counted: _Counted, checksum: Checksum | None) -> ApiError | None:
        """Why the staged bytes must not be kept, if they must not."""
        if checksum is None:
            return None
        if body.cut:  # "Once the entire request has been received, the Server MUST verify": it never was
            return ApiError(E.INCOMPLETE_BODY, "the request ended before its end; nothing of it was kept")
        digest = await counted.digest()
        if digest != checksum.digest:
            return ApiError(
                E.CHECKSUM_MISMATCH,
                f"the data's {checksum.algorithm} is not the one Upload-Checksum gives; none of it was kept, "
                "send it again",
            )
        return None

    async def _keep(self, seen: Upload, staged: StagedChunk, refusal: ApiError | None) -> Upload:
        async with self._uploads.locks.hold(seen.key):
            upload = await self.store.get_upload(seen.key)
            if (
                refusal is not None
                or staged.size == 0
                or upload is None
                or upload.created_at != seen.created_at
            ):
                await self.store.discard_chunk(staged)
                if refusal is not None:
                    raise refusal
                if upload is None:
                    raise ApiError(E.NOT_FOUND, "the upload was deleted while this request's data arrived")
                return upload
            upload = await self.store.keep_chunk(staged)
            await self.store.touch_upload(upload.key, self.clock())
            return await self._found(upload.key)

    async def _matches(self, upload: Upload, algorithm: str, expected_hex: str) -> bool:
        """Whether the upload's bytes have this digest (``Repr-Digest`` at creation), read back once."""
        return (await _digest(self.store.read_upload(upload), algorithm)).hex() == expected_hex

    async def _refuse_more(self, body: StreamBody) -> None:
        """A complete upload takes no more bytes (an empty append is fine)."""
        async for piece in body:
            if piece:
                raise ApiError(E.UPLOAD_COMPLETE, "the upload is complete: it takes no more data")

    async def _finish(self, upload: Upload) -> Upload:
        """Under the upload's lock, its end held: assemble, publish under the MD5, offer it under its name (a
        partial upload of a concatenation waits for its final upload instead)."""
        info = self.protocol_info(upload)
        if info.get("concat") == "partial":
            return upload
        expected = info.get("repr_digest")
        if isinstance(expected, list) and not await self._matches(upload, str(expected[0]), str(expected[1])):
            await self.store.delete_upload(upload.key)
            raise ApiError(
                E.DIGEST_MISMATCH,
                "the whole upload does not match the Repr-Digest given when it was created; it was discarded",
            )
        assembly = await self.store.assemble(upload)
        stored = await self.store.publish(assembly)
        self._uploads.on_published(stored)
        name = names.offered_name(str(self.protocol_info(upload).get("name") or ""))
        await self.store.add_name(stored.file_id, names.offered_ext(name or ""), name)
        log.info(
            "assembled stream upload %s: %d bytes, published as %s", upload.key, stored.size, stored.file_id
        )
        return await self._found(upload.key)
