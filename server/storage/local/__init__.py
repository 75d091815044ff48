"""The embedded default backend: files on the local disk, bookkeeping in SQLite.

Layout under the data dir::

    meta.sqlite3            uploads, kept chunks, published files and their names (``catalogue``)
    tmp/                    staged chunks beyond the memory budget; emptied at start-up (``chunk_files``)
    chunks/<fileId>/<i>     chunk i of an upload in progress, until it is appended to the partial file
    partial/<fileId>        the assembled prefix of an upload in progress: chunks 0..k-1, in order (``prefix``)
    files/<fileId>          published files, named by their MD5

One source of truth per fact: SQLite for what is kept (the catalogue caches its uploads beside it), the chunk
files and the partial file for bytes, ``Prefix`` for how far a partial file is appended and hashed.

Crash safety (``kill -9`` at any moment): bytes are written first (to ``tmp/``, a temporary name, or past
the recorded end of the partial file), then renamed into place, and only then recorded in SQLite. A row
therefore always points at complete bytes; bytes without a row are asked for again. A published file is
visible only once its row in ``files`` exists, which is written after the rename into ``files/``; a
published file removed from ``files/`` by hand loses its row (at start-up, or when it is next asked for), so
it is not answered as stored and can be uploaded again.

Durability of the prefix: fsynced and its length recorded at least every ``PREFIX_SYNC_BYTES`` (and, with
``--fsync all``, before each chunk written at its end is kept); then the chunk files it holds are deleted.
``kill -9`` keeps the page cache; a power loss with ``--fsync files`` can at worst make the whole-file MD5
check fail, and the damaged chunks are then asked for again (``RepairsDamage``). After a restart the durable
prefix is re-hashed once.
"""

from server.storage.local.store import LocalStorage

__all__ = ["LocalStorage"]
