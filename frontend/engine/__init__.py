"""The browser client's transfer engine: pure Python (stdlib only, asyncio only), no ``js``/``pyodide`` import.

It runs unchanged under CPython 3.11+ (unit tests) and Pyodide (the page). Everything that touches the
browser lives in the browser package and reaches the engine only through the ports in ``ports.py``.
Modules import each other relatively, so the folder works as ``frontend.engine`` or mounted as ``engine``.

Layout (one concept per module):

- ``ports.py``     the contracts: ``Transport`` + ``HttpRequest``/``HttpResponse`` (with ``JsonBody``,
                   ``FormBody``, ``FormField``, ``FilePart``), ``FileSource`` (+ optional
                   ``StreamingFileSource.blocks``), ``Clock``, ``UploadSnapshot`` and ``Listener``
- ``errors.py``    the error catalogue (``Err``) and ``EngineError`` / ``TransportError`` / ``ServerError``
- ``state.py``     ``UploadState`` (the seed's states + hashing, retrying, failed) and the transition table
- ``chunking.py``  the chunk plan: 1 MiB chunks, ``fileId`` = MD5 of the file, chunk id = MD5 + index
- ``hashing.py``   one streaming pass over a ``FileSource`` that yields the plan; ``extname``
- ``retry.py``     which failures are retried, and the backoff (exponential, full jitter)
- ``progress.py``  percent, speed over a moving window, ETA
- ``protocol.py``  the seed's two requests and the envelope ``{code, msg, data}``
- ``uploader.py``  ``UploadController``: hash -> handshake -> parallel chunks -> finished; pause/continue
- ``memory.py``    test support: a bytes ``FileSource`` and an in-memory server speaking the protocol,
                   with fault injection

Wiring it in the browser::

    from engine import UploadController, UploadConfig      # or frontend.engine

    class FetchTransport:                                   # implements ports.Transport
        async def request(self, req): ...                   # js.fetch; FormData with parts in req order;
                                                            # fetch rejection -> raise TransportError(...)
    class BlobSource:                                       # implements ports.FileSource
        name, size, last_modified                           # from the File
        async def read(self, start, end): ...               # (await blob.slice(start, end).arrayBuffer()).to_bytes()
        async def blocks(self, block_size): ...             # optional: blob.stream() reader, async generator

    ctl = UploadController(BlobSource(file), FetchTransport(), base_url=page_origin,
                           config=UploadConfig(parallel=3), listener=view.render)
    ctl.start()            # hash, handshake, upload in a background task (returns the asyncio.Task)
    ctl.pause()            # no new chunks; in-flight ones finish; state PAUSED at once
    ctl.resume()           # "continue": ask the server what it still needs, go on
    ctl.retry_now()        # skip the backoff wait (e.g. on the window's "online" event)
    await ctl.wait()       # the snapshot once the current run stops (finished, failed or paused)

``ctl.prepare()`` hashes and handshakes only (state CHOSEN after it, like the seed's "start upload" button;
FINISHED if the server already has the file); ``ctl.start()`` then uploads. ``ctl.snapshot`` is the latest
``UploadSnapshot``; listeners get each one (``listener=`` or ``ctl.subscribe(fn)``). Several files = several
controllers sharing one transport.
"""

from .errors import EngineError, Err, IllegalTransition, ServerError, TransportError
from .ports import (
    Clock,
    FilePart,
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
from .state import UploadState

__all__ = [
    "Clock",
    "EngineError",
    "Err",
    "FilePart",
    "FileSource",
    "FormBody",
    "FormField",
    "HttpRequest",
    "HttpResponse",
    "IllegalTransition",
    "JsonBody",
    "Listener",
    "ServerError",
    "StreamingFileSource",
    "Transport",
    "TransportError",
    "UploadSnapshot",
    "UploadState",
]
