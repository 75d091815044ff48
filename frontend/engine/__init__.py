"""The browser client's transfer engine: pure Python (stdlib, asyncio), no ``js``/``pyodide`` import.

It runs unchanged under CPython 3.11+ (unit tests) and Pyodide (the page). Everything that touches the
browser lives in the browser package and reaches the engine only through the ports in ``ports.py``.
Modules import each other relatively, so the folder works as ``frontend.engine`` or mounted as ``engine``.
The wire rules it shares with the server (the id grammar, the ``ext``/``name`` rules, the server's error
names) are the top-level package ``wire``, imported by that absolute name: it sits beside the engine's
package wherever the engine runs (the repository's root under CPython; the working directory the page's
zip of sources unpacks into under Pyodide, ``server/page.py``; a test that mounts the engine mounts it too).

Layout (one concept per module):

- ``ports.py``     the contracts: ``Transport`` + ``HttpRequest``/``HttpResponse`` (with ``JsonBody``,
                   ``FormBody``, ``FormField``, ``FilePart``, ``FileRange``), ``FileSource`` (+ optional
                   ``StreamingFileSource.blocks``), ``Clock``, ``UploadSnapshot`` and ``Listener``
- ``errors.py``    the error catalogue (``Err``) and ``EngineError`` / ``TransportError`` / ``ServerError``
- ``state.py``     ``UploadState`` (the seed's states + hashing, retrying, failed: what the UI sees), the
                   controller's ``ControlState`` (pause split by what is still in flight: PAUSING, RESUMING)
                   and the transition table
- ``chunking.py``  the chunk plan: 1 MiB chunks, ``fileId`` = MD5 of the file, chunk id = MD5 + index
- ``hashing.py``   one streaming pass over a ``FileSource`` that yields the plan; ``extname``
- ``checking.py``  a chunk read again and checked against its id: a changed file, or damage on the way
- ``retry.py``     which failures are retried, the backoff (exponential, full jitter), the resend budget
- ``retry_loop.py`` the loop both engines run a step in: retry, wait (cut short by a pause), give up
- ``progress.py``  percent, speed over a moving window, ETA
- ``protocol.py``  the seed's two requests (asking ``?answer=ranges``) and the envelope ``{code, msg, data}``
- ``needed.py``    what the server still needs: ranges of chunk indexes that only shrink, and what is in flight
- ``rounds.py``    one round of chunk requests: lanes until done, paused, or an error
- ``in_flight.py`` how many chunk requests to keep in flight: the link's bandwidth-delay product, 3 to 6
- ``uploader.py``  ``UploadController``: hash -> handshake -> rounds of chunks -> finished; pause/continue
- ``plan_cache.py`` chunk plans remembered across reloads (no second hashing): keys, bounds, expiry, encoding
- ``proof.py``     ``--auth-secret`` mode: the token on every request (``UploadConfig.token``), and the proof
                   of possession a handshake for a file already stored asks for (``wire.possession``)

Downloads into the page (the same style: pure, a thin browser side behind ports):

- ``download_ports.py``    the contracts with the browser side (the partial file, the request stream)
- ``download_state.py``    ``DownloadState`` (what the UI sees), the controller's states, the transitions
- ``download_plan.py``     the segment plan and which segments are still missing
- ``download_http.py``     the requests (``Range`` + ``If-Range``, ``Want-Content-Digest``) and their answers
- ``download_journal.py``  what is on disk of which version of which file (written after the bytes)
- ``download_verify.py``   the whole file's SHA-256 (``Repr-Digest``) and, for an upload, its MD5
- ``download_rounds.py``   one round of segment requests: ``parallel`` lanes until done or stopped
- ``downloader.py``        ``DownloadController``: plan -> rounds -> verified -> handed over; pause/continue

Only what the page runs lives here; the doubles the tests drive it with (files in memory, a fake clock, an
in-memory server with fault injection) are in ``tests/support/engine_doubles.py`` and ``memory_server.py``.

Wiring it in the browser::

    from engine import UploadController, UploadConfig      # or frontend.engine

    class FetchTransport:                                   # implements ports.Transport
        async def request(self, req): ...                   # js.fetch; FormData with parts in req order,
                                                            # a FileRange as file.slice(start, end);
                                                            # fetch rejection -> raise TransportError(...)
    class BlobSource:                                       # implements ports.FileSource
        name, size, last_modified                           # from the File
        async def read(self, start, end): ...               # blob.slice(start, end).arrayBuffer() -> bytes
                                                            # (to check a chunk whose request failed)
        async def blocks(self, block_size): ...             # optional: blob.stream() reader, async generator

    ctl = UploadController(BlobSource(file), FetchTransport(), base_url=page_origin,
                           config=UploadConfig(parallel=3), listener=view.render)
    ctl.start()            # hash, handshake, upload in a background task (returns the asyncio.Task)
    ctl.pause()            # no new chunks; in-flight ones finish; state PAUSED at once
    ctl.resume()           # "continue": once paused chunks are in, ask the server what it needs, go on
    ctl.retry_now()        # skip the backoff wait (e.g. on the window's "online" event)
    await ctl.wait()       # the snapshot once the current run stops (finished, failed or paused)
    await ctl.upload()     # start() and wait() in one call (scripts and tests outside the page)

``ctl.prepare()`` hashes and handshakes only (state CHOSEN after it, like the seed's "start upload" button;
FINISHED if the server already has the file); ``ctl.start()`` then uploads. ``await ctl.cancel()`` aborts at
once, in-flight requests included (the transport's awaiting task is cancelled: abort the fetch). After
FAILED, ``ctl.start()`` retries. ``start()``/``pause()`` are plain (sync) calls, fine from a DOM handler.
Which buttons to show: ``pause`` in UPLOADING/RETRYING, ``resume`` in PAUSED, ``start`` in CHOSEN/FAILED;
other calls raise ``IllegalTransition``.

Observing: ``ctl.snapshot`` is the latest ``UploadSnapshot``; listeners get each new one (``listener=`` or
``ctl.subscribe(fn)``, which also calls ``fn`` at once). Draw from ``state``, ``percent``/``chunk_percent``,
``bytes_done``/``bytes_total``, ``speed``, ``eta``, ``hash_percent`` (HASHING), ``retry_in`` and ``error``
(RETRYING), ``url`` (FINISHED), ``error`` + ``error_code`` (FAILED).

Transport rules: return every HTTP answer as ``HttpResponse(status, parsed_json_or_None)`` (4xx/5xx are data);
raise ``TransportError`` only when no answer came. Build FormData in ``FormBody.parts`` order (the ids, then
the file part) and let fetch set the multipart Content-Type; a chunk's file part is a ``FileRange``: append
``file.slice(start, end)`` (or read it: ``await body.resolved()``). Honour ``req.timeout`` and
``req.stall_timeout`` (no progress for that long: raise ``TransportError``). ``base_url`` must be absolute
(a PyScript worker's location is a ``blob:`` URL).

Several files = several controllers sharing one transport. To skip hashing after a reload, remember
``ctl.plan`` (``plan_cache.py``: keyed by name/size/last_modified, bounded, expiring; never an unbounded
localStorage) and pass it back as ``plan=``: the upload then starts in UPLOADING, and if the server's checks
show the file no longer fits the plan, the controller hashes it again (``ctl.rehashed``). Errors the UI may
see are catalogued in ``errors.Err`` plus the server's own ``error`` names (``wire.errors.ErrorName``, e.g.
``CHUNK_LIST_CONFLICT``, ``FILE_TOO_LARGE``).
"""

from .chunking import CHUNK_SIZE, Chunk, ChunkPlan
from .errors import EngineError, Err, IllegalTransition, ServerError, TransportError
from .hashing import extname, hash_file
from .ports import (
    Clock,
    FilePart,
    FileRange,
    FileSource,
    FormBody,
    FormField,
    HttpRequest,
    HttpResponse,
    JsonBody,
    Listener,
    StreamingFileSource,
    Transport,
    UploadSnapshot,
)
from .retry import RetryPolicy
from .state import UploadState
from .uploader import UploadConfig, UploadController

__all__ = [
    "CHUNK_SIZE",
    "Chunk",
    "ChunkPlan",
    "Clock",
    "EngineError",
    "Err",
    "FilePart",
    "FileRange",
    "FileSource",
    "FormBody",
    "FormField",
    "HttpRequest",
    "HttpResponse",
    "IllegalTransition",
    "JsonBody",
    "Listener",
    "RetryPolicy",
    "ServerError",
    "StreamingFileSource",
    "Transport",
    "TransportError",
    "UploadConfig",
    "UploadController",
    "UploadSnapshot",
    "UploadState",
    "extname",
    "hash_file",
]
