"""The cluster backend's catalogue (``server/storage/cluster/catalogue.py``) against a real PostgreSQL.

Every metadata operation; two catalogues (two pools, as two server processes have) on one database seeing
each other's writes and excluding each other with locks; locks that die with their holder (its session
terminated, its process killed with SIGKILL); migrations run once however many instances start; and
PostgreSQL stopped mid-way: ``DependencyUnavailable`` at once, then work again once it is back, without
reopening. The ``postgres`` and ``pg_dsn`` fixtures are in ``tests/support/postgres.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from server.storage.cluster.advisory_locks import lock_id
from server.storage.cluster.catalogue import Catalogue, ChunkObject, Dropped, NotKept
from server.storage.cluster.errors import DependencyUnavailable
from server.storage.cluster.postgres import PostgresOptions, server_settings, unavailable
from server.storage.cluster.schema import MIGRATIONS, Migration, migrate
from server.storage.contract import key_file_id
from tests.support.postgres import PostgresServer, free_port
from tests.support.server_process import ROOT
from tests.support.waiting import async_wait_until

# Short limits: a test that finds PostgreSQL gone fails in seconds, not in the production defaults' time.
OPTIONS = PostgresOptions(connect_timeout=3, command_timeout=3, acquire_timeout=3)
CHUNKS = [b"first chunk ", b"second ", b"last"]
FILE_ID = hashlib.md5(b"".join(CHUNKS)).hexdigest()
IDS = tuple(hashlib.md5(c).hexdigest() + str(i) for i, c in enumerate(CHUNKS))
HANG = 15  # seconds after which an operation that should have ended counts as hung


@pytest.fixture
async def catalogue(pg_dsn: str) -> AsyncIterator[Catalogue]:
    opened = await Catalogue(pg_dsn, OPTIONS).open()
    yield opened
    await opened.close()


@pytest.fixture
async def other(pg_dsn: str) -> AsyncIterator[Catalogue]:
    """A second catalogue on the same database: another server process's view."""
    opened = await Catalogue(pg_dsn, OPTIONS).open()
    yield opened
    await opened.close()


@pytest.fixture
async def observer(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to look at PostgreSQL's own state (pg_locks, pg_stat_activity)."""
    connection = await asyncpg.connect(pg_dsn)
    yield connection
    await connection.close()


async def keep_all(catalogue: Catalogue, key: str, order: tuple[int, ...] = (0, 1, 2)) -> None:
    for index in order:
        kept = await catalogue.keep_chunk(key, index, len(CHUNKS[index]), f"{key}/chunk-{index}")
        assert not isinstance(kept, NotKept), kept


async def advisory_locks(observer: asyncpg.Connection, *, granted: bool) -> list[int]:
    """Backend pids holding (or waiting for) an advisory lock in the observed database."""
    rows = await observer.fetch(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted = $1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        granted,
    )
    return [row["pid"] for row in rows]


# -- published files and names -------------------------------------------------------------------------------


async def test_a_file_is_added_once_and_the_first_stays(catalogue: Catalogue) -> None:
    assert await catalogue.file(FILE_ID) is None
    first, created = await catalogue.add_file(FILE_ID, 23, "files/a", 100.0)
    assert created and (first.file_id, first.size, first.created_at, first.object_key) == (
        FILE_ID,
        23,
        100.0,
        "files/a",
    )
    again, created = await catalogue.add_file(FILE_ID, 23, "files/b", 200.0)
    assert not created and again == first
    assert await catalogue.file(FILE_ID) == first


async def test_the_first_name_given_stays(catalogue: Catalogue) -> None:
    await catalogue.add_name(FILE_ID, ".txt", None)
    await catalogue.add_name(FILE_ID, ".txt", "a.txt")
    await catalogue.add_name(FILE_ID, ".txt", "b.txt")
    name = await catalogue.name(FILE_ID, ".txt")
    assert name is not None and name.name == "a.txt"
    assert await catalogue.name(FILE_ID, ".md") is None


# -- uploads -------------------------------------------------------------------------------------------------


async def test_upload_records(catalogue: Catalogue) -> None:
    assert await catalogue.upload(FILE_ID) is None
    created, dropped = await catalogue.create_upload(FILE_ID, IDS, 42, 100.0, info="x", owner="10.0.0.1")
    assert dropped == Dropped()
    assert (created.key, created.chunk_ids, created.size, created.updated_at, created.info) == (
        FILE_ID,
        IDS,
        42,
        100.0,
        "x",
    )
    assert await catalogue.upload(FILE_ID) == created
    assert await catalogue.count_uploads() == 1
    assert await catalogue.count_uploads(holding_bytes=True) == 0
    await catalogue.touch(FILE_ID, 250.0)
    await catalogue.touch(FILE_ID, 260.0, size=23)
    touched = await catalogue.upload(FILE_ID)
    assert touched is not None and (touched.updated_at, touched.size, touched.created_at) == (
        260.0,
        23,
        100.0,
    )
    assert await catalogue.untouched_since(300.0) == [FILE_ID]
    assert await catalogue.untouched_since(200.0) == []


async def test_uploads_of_one_file_are_found_by_its_id(catalogue: Catalogue) -> None:
    await catalogue.create_upload(FILE_ID, IDS, None, 1.0)
    await catalogue.create_upload(f"{FILE_ID}.2", IDS[:2], None, 2.0)  # another chunk list of the same file
    await catalogue.create_upload("stream-1", None, None, 3.0)
    assert [upload.key for upload in await catalogue.find_uploads(FILE_ID)] == [FILE_ID, f"{FILE_ID}.2"]
    assert await catalogue.find_uploads("stream-1") == []  # a stream upload has no file id until published
    assert key_file_id(f"{FILE_ID}.2") == FILE_ID


async def test_chunks_are_kept_once_and_read_back_in_order(catalogue: Catalogue) -> None:
    await catalogue.create_upload(FILE_ID, IDS, None, 100.0)
    kept = await catalogue.keep_chunk(FILE_ID, 2, 4, "objects/2")
    assert not isinstance(kept, NotKept) and dict(kept.stored) == {2: 4}
    assert await catalogue.keep_chunk(FILE_ID, 2, 4, "objects/2-again") is NotKept.ALREADY_KEPT
    assert await catalogue.keep_chunk("no-such-upload", 0, 4, "objects/x") is NotKept.NO_UPLOAD
    kept = await catalogue.keep_chunk(FILE_ID, 0, 12, "objects/0")
    assert not isinstance(kept, NotKept) and dict(kept.stored) == {0: 12, 2: 4}
    assert await catalogue.chunk_objects(FILE_ID) == [
        ChunkObject(0, 12, "objects/0"),
        ChunkObject(2, 4, "objects/2"),
    ]
    assert await catalogue.count_uploads(holding_bytes=True) == 1
    assert sorted(await catalogue.drop_chunks(FILE_ID, [0, 1])) == ["objects/0"]  # 1 was never kept
    upload = await catalogue.upload(FILE_ID)
    assert upload is not None and dict(upload.stored) == {2: 4}


async def test_replacing_an_upload_returns_what_it_left(catalogue: Catalogue) -> None:
    await catalogue.create_upload(FILE_ID, IDS, None, 100.0)
    await keep_all(catalogue, FILE_ID, (0, 2))
    assert await catalogue.set_parts(FILE_ID, '{"multipart": "m-1"}')
    replaced, dropped = await catalogue.create_upload(FILE_ID, IDS[:2], None, 200.0)
    assert sorted(dropped.objects) == [f"{FILE_ID}/chunk-0", f"{FILE_ID}/chunk-2"]
    assert dropped.parts == '{"multipart": "m-1"}'
    assert replaced.chunk_ids == IDS[:2] and dict(replaced.stored) == {}
    assert await catalogue.upload(FILE_ID) == replaced
    assert await catalogue.parts(FILE_ID) is None


async def test_object_store_state_is_kept_with_the_upload(catalogue: Catalogue) -> None:
    await catalogue.create_upload("stream-1", None, None, 1.0)
    assert await catalogue.parts("stream-1") is None
    assert await catalogue.set_parts("stream-1", '{"id": "abc", "etags": ["e1"]}')
    assert await catalogue.parts("stream-1") == '{"id": "abc", "etags": ["e1"]}'
    assert not await catalogue.set_parts("no-such-upload", "{}")
    with pytest.raises(asyncpg.DataError):  # jsonb: the state must be JSON
        await catalogue.set_parts("stream-1", "not json")


async def test_publishing_a_chunked_upload_drops_it(catalogue: Catalogue) -> None:
    await catalogue.create_upload(FILE_ID, IDS, 23, 100.0)
    await catalogue.add_name(FILE_ID, ".txt", "notes.txt")
    await keep_all(catalogue, FILE_ID, (2, 0, 1))
    published = await catalogue.publish(FILE_ID, FILE_ID, 23, "files/x", 300.0)
    assert published.created and published.file == await catalogue.file(FILE_ID)
    assert (published.file.size, published.file.object_key, published.file.created_at) == (
        23,
        "files/x",
        300.0,
    )
    assert sorted(published.dropped.objects) == [f"{FILE_ID}/chunk-{i}" for i in range(3)]
    assert await catalogue.upload(FILE_ID) is None and await catalogue.chunk_objects(FILE_ID) == []
    assert await catalogue.count_uploads() == 0
    name = await catalogue.name(FILE_ID, ".txt")
    assert name is not None and name.name == "notes.txt"


async def test_a_published_stream_upload_stays_and_the_same_bytes_keep_the_first_file(
    catalogue: Catalogue,
) -> None:
    for key, now in (("stream-1", 1.0), ("stream-2", 2.0)):
        await catalogue.create_upload(key, None, None, now)
        await keep_all(catalogue, key)
    first = await catalogue.publish("stream-1", FILE_ID, 23, "files/1", 10.0)
    second = await catalogue.publish("stream-2", FILE_ID, 23, "files/2", 20.0)
    assert first.created and not second.created and second.file == first.file  # files/2 is not needed
    assert len(second.dropped.objects) == 3
    done = await catalogue.upload("stream-2")
    assert done is not None and done.published == FILE_ID and dict(done.stored) == {}
    assert await catalogue.find_uploads(FILE_ID) == []  # only chunked uploads (the rivals of a chunked one)
    assert await catalogue.count_uploads() == 0
    assert await catalogue.delete_upload("stream-1") == Dropped()
    assert await catalogue.upload("stream-1") is None and await catalogue.file(FILE_ID) == first.file


async def test_publishing_an_upload_that_ended_meanwhile_still_publishes_the_file(
    catalogue: Catalogue,
) -> None:
    published = await catalogue.publish("gone", FILE_ID, 23, "files/x", 1.0)
    assert published.created and published.dropped == Dropped()
    assert await catalogue.file(FILE_ID) == published.file


async def test_deleting_an_upload_returns_what_it_left_and_its_names_go(catalogue: Catalogue) -> None:
    await catalogue.create_upload(FILE_ID, IDS, None, 100.0)
    await catalogue.create_upload(f"{FILE_ID}.2", IDS[:1], None, 100.0)
    await catalogue.add_name(FILE_ID, ".txt", "x.txt")
    await keep_all(catalogue, FILE_ID, (1,))
    await catalogue.set_parts(FILE_ID, '{"multipart": "m"}')
    dropped = await catalogue.delete_upload(FILE_ID)
    assert dropped == Dropped((f"{FILE_ID}/chunk-1",), '{"multipart": "m"}')
    assert await catalogue.upload(FILE_ID) is None
    assert await catalogue.name(FILE_ID, ".txt") is not None  # another upload still brings that file
    await catalogue.delete_upload(f"{FILE_ID}.2")
    assert await catalogue.name(FILE_ID, ".txt") is None  # never published, nobody bringing it: gone
    assert await catalogue.delete_upload(FILE_ID) == Dropped()


async def test_uploads_are_counted_by_who_started_them(catalogue: Catalogue) -> None:
    await catalogue.create_upload("a", None, None, 1.0, owner="10.0.0.1")
    await catalogue.create_upload("b", None, None, 1.0, owner="10.0.0.1")
    await catalogue.create_upload("c", None, None, 1.0, owner="10.0.0.2")
    await keep_all(catalogue, "a")
    await catalogue.publish("a", FILE_ID, 23, "files/a", 2.0)  # published: no longer in progress
    assert await catalogue.count_uploads(owner="10.0.0.1") == 1
    assert await catalogue.count_uploads(owner="10.0.0.2") == 1
    assert await catalogue.count_uploads(owner="10.0.0.3") == 0
    assert await catalogue.count_uploads() == 2


# -- several processes ---------------------------------------------------------------------------------------


async def test_two_catalogues_see_each_others_writes(catalogue: Catalogue, other: Catalogue) -> None:
    await catalogue.create_upload(FILE_ID, IDS, None, 100.0)
    assert await other.keep_chunk(FILE_ID, 1, 7, "objects/1") != NotKept.NO_UPLOAD
    upload = await catalogue.upload(FILE_ID)
    assert upload is not None and dict(upload.stored) == {1: 7}
    assert await catalogue.keep_chunk(FILE_ID, 1, 7, "objects/1-copy") is NotKept.ALREADY_KEPT
    await other.publish(FILE_ID, FILE_ID, 23, "files/x", 200.0)
    assert await catalogue.upload(FILE_ID) is None and await catalogue.file(FILE_ID) is not None


async def test_a_chunk_kept_while_its_upload_is_deleted_is_refused(
    catalogue: Catalogue, pg_dsn: str, observer: asyncpg.Connection
) -> None:
    """The foreign key decides the race: the delete locked the upload's row first, the insert waits for it,
    then finds the row gone (no orphan chunk row, whose object nobody would delete)."""
    await catalogue.create_upload(FILE_ID, IDS, None, 100.0)
    deleter = await asyncpg.connect(pg_dsn)
    try:
        deleting = deleter.transaction()
        await deleting.start()
        await deleter.execute("SELECT 1 FROM uploads WHERE key = $1 FOR UPDATE", FILE_ID)
        keeping = asyncio.create_task(catalogue.keep_chunk(FILE_ID, 0, 12, "objects/0"))
        await async_wait_until(
            lambda: observer.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT%'"
            ),
            what="keep_chunk to wait for the upload's row",
        )
        await deleter.execute("DELETE FROM uploads WHERE key = $1", FILE_ID)
        await deleting.commit()
        assert await asyncio.wait_for(keeping, HANG) is NotKept.NO_UPLOAD
    finally:
        await deleter.close()
    assert await catalogue.chunk_objects(FILE_ID) == []


async def test_migrations_run_once_however_many_instances_start(pg_dsn: str) -> None:
    opened = await asyncio.gather(*(Catalogue(pg_dsn, OPTIONS).open() for _ in range(3)))  # at once
    again = await Catalogue(pg_dsn, OPTIONS).open()  # and later
    try:
        connection = await asyncpg.connect(pg_dsn)
        try:
            versions = [
                row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")
            ]
            assert versions == [step.version for step in MIGRATIONS]
            # A new step, added later, is applied alone on top of what is there.
            added = Migration(len(MIGRATIONS) + 1, "a test column", "ALTER TABLE files ADD COLUMN note text")
            assert await migrate(connection, (*MIGRATIONS, added)) == added.version
            assert await migrate(connection, (*MIGRATIONS, added)) == added.version
            assert await connection.fetchval("SELECT count(*) FROM schema_migrations") == added.version
        finally:
            await connection.close()
    finally:
        for catalogue in (*opened, again):
            await catalogue.close()


def test_migrations_must_be_numbered_in_order() -> None:
    with pytest.raises(ValueError, match="position 1"):
        asyncio.run(migrate(None, (Migration(2, "out of order", "SELECT 1"),)))  # type: ignore[arg-type]


# -- the query pool ----------------------------------------------------------------------------------------


async def test_a_connection_goes_back_without_a_reset_query_and_never_inside_a_transaction(
    catalogue: Catalogue, observer: asyncpg.Connection
) -> None:
    """The catalogue's sessions keep no state, so a released connection is not sent asyncpg's reset query (a
    round trip per query saved); a transaction left open (a request cancelled mid-way) is still rolled back."""
    async with catalogue._connection() as connection:
        pid = connection.get_server_pid()
        await connection.execute("SELECT 'the last query'")
    last = await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    assert last == "SELECT 'the last query'"  # nothing was sent after it on release
    async with catalogue._connection() as connection:
        assert connection.get_server_pid() == pid  # the pool hands out the connection it got back last
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMP TABLE left_open (x int)")
    async with catalogue._connection() as connection:
        assert connection.get_server_pid() == pid
        assert not connection.is_in_transaction()
        assert await connection.fetchval("SELECT to_regclass('pg_temp.left_open')") is None  # rolled back


# -- locks across processes ----------------------------------------------------------------------------------


async def test_a_lock_excludes_another_catalogue_until_released(
    catalogue: Catalogue, other: Catalogue, observer: asyncpg.Connection
) -> None:
    events: list[str] = []

    async def second() -> None:
        async with other.lock(FILE_ID):
            events.append("second holds")

    async with catalogue.lock(FILE_ID) as held:
        assert held.backend_pid in await advisory_locks(observer, granted=True)
        waiter = asyncio.create_task(second())
        await async_wait_until(
            lambda: advisory_locks(observer, granted=False), what="the second catalogue to wait for the lock"
        )
        assert not waiter.done()
        events.append("first releases")
    await asyncio.wait_for(waiter, HANG)
    assert events == ["first releases", "second holds"]
    assert await advisory_locks(observer, granted=True) == []


async def test_try_lock_says_at_once_when_another_holds_the_key(
    catalogue: Catalogue, other: Catalogue
) -> None:
    async with catalogue.lock(FILE_ID):
        async with other.try_lock(FILE_ID) as held:
            assert held is None
        async with other.try_lock("another key") as held:
            assert held is not None and held.key == "another key"
    async with other.try_lock(FILE_ID) as held:
        assert held is not None and await held.still_held()


async def test_a_cancelled_waiter_leaves_nothing_locked(
    catalogue: Catalogue, other: Catalogue, observer: asyncpg.Connection
) -> None:
    async def wait_for_lock() -> None:
        async with other.lock(FILE_ID):
            raise AssertionError("the waiter was cancelled before it got the lock")

    async with catalogue.lock(FILE_ID):
        waiter = asyncio.create_task(wait_for_lock())
        await async_wait_until(lambda: advisory_locks(observer, granted=False), what="the waiter to wait")
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await async_wait_until(lambda: _no_advisory_locks(observer), what="every advisory lock to be released")
    async with other.try_lock(FILE_ID) as held:
        assert held is not None


async def _no_advisory_locks(observer: asyncpg.Connection) -> bool:
    return not await advisory_locks(observer, granted=True) and not await advisory_locks(
        observer, granted=False
    )


async def test_a_lock_is_released_when_its_session_is_terminated(
    catalogue: Catalogue, other: Catalogue, observer: asyncpg.Connection
) -> None:
    async with catalogue.lock(FILE_ID) as held:
        assert await observer.fetchval("SELECT pg_terminate_backend($1)", held.backend_pid)
        async with other.lock(FILE_ID):  # would wait forever if the lock outlived its session
            pass
        assert not await held.still_held()
    # Leaving the block released nothing (the session was gone) and raised nothing: the body's outcome counts.


async def test_closing_a_catalogue_releases_the_locks_it_still_holds(pg_dsn: str, other: Catalogue) -> None:
    """A server shutting down while a request holds a lock: the lock is cut after ``command_timeout``."""
    closing = await Catalogue(pg_dsn, PostgresOptions(command_timeout=0.5)).open()
    held, never = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with closing.lock(FILE_ID):
            held.set()
            await never.wait()

    task = asyncio.create_task(holder())
    await asyncio.wait_for(held.wait(), HANG)
    await asyncio.wait_for(closing.close(), HANG)

    async def free() -> bool:
        async with other.try_lock(FILE_ID) as lock:
            return lock is not None

    await async_wait_until(free, timeout=5, what="the cut session's lock to be released")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_process_out_of_lock_connections_says_so_in_time(pg_dsn: str) -> None:
    """Each held lock pins a connection of the lock pool: with all taken, another lock is refused after
    ``acquire_timeout`` (not a wait without end, which would deadlock a holder taking a second lock)."""
    small = await Catalogue(pg_dsn, PostgresOptions(lock_connections=1, acquire_timeout=0.2)).open()
    try:
        async with small.lock("a"):
            with pytest.raises(DependencyUnavailable, match="no pooled connection was free"):
                async with small.try_lock("b"):
                    pass
        async with small.try_lock("b") as held:
            assert held is not None
    finally:
        await small.close()


_HOLDER = """
import asyncio, sys
from server.storage.cluster.catalogue import Catalogue

async def main() -> None:
    catalogue = await Catalogue(sys.argv[1]).open()
    async with catalogue.lock(sys.argv[2]):
        print("locked", flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until killed

asyncio.run(main())
"""


async def test_a_lock_is_released_when_its_process_is_killed(catalogue: Catalogue, pg_dsn: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLDER,
        pg_dsn,
        FILE_ID,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), HANG) == b"locked\n"
        async with catalogue.try_lock(FILE_ID) as held:
            assert held is None
    finally:
        holder.kill()  # SIGKILL: no clean-up of any kind in the holder
        await holder.wait()

    async def free() -> bool:
        async with catalogue.try_lock(FILE_ID) as held:
            return held is not None

    await async_wait_until(free, timeout=5, what="the killed process's lock to be released")


def test_lock_ids_are_stable() -> None:
    """Every process of a cluster, whatever its version, must map a key to the same id: pinned."""
    assert lock_id("0123456789abcdef0123456789abcdef") == lock_id("0123456789abcdef0123456789abcdef")
    assert lock_id("a") == -4373563259195434753
    assert lock_id("a") != lock_id("b")


# -- PostgreSQL gone and back --------------------------------------------------------------------------------


async def test_postgres_stopped_is_dependency_unavailable_then_work_resumes(
    catalogue: Catalogue, postgres: PostgresServer
) -> None:
    await catalogue.create_upload(FILE_ID, IDS, None, 100.0)
    async with catalogue.lock("held across the outage"):
        postgres.stop()
        with pytest.raises(DependencyUnavailable) as raised:
            await asyncio.wait_for(catalogue.upload(FILE_ID), HANG)
        assert raised.value.dependency == "PostgreSQL" and "PostgreSQL is unavailable" in str(raised.value)
        with pytest.raises(DependencyUnavailable):
            await asyncio.wait_for(catalogue.keep_chunk(FILE_ID, 0, 12, "objects/0"), HANG)
        with pytest.raises(DependencyUnavailable):
            async with asyncio.timeout(HANG), catalogue.lock(FILE_ID):
                pass
    # The held lock's session died with the server: leaving its block raised nothing.
    postgres.start()
    upload = await catalogue.upload(FILE_ID)  # the same catalogue: its pools reconnect
    assert upload is not None and upload.chunk_ids == IDS
    async with catalogue.lock(FILE_ID) as held:
        assert await held.still_held()


async def test_opening_without_postgres_is_dependency_unavailable() -> None:
    with pytest.raises(DependencyUnavailable, match="cannot connect"):
        await asyncio.wait_for(
            Catalogue(f"postgresql://postgres@127.0.0.1:{free_port()}/x", OPTIONS).open(), HANG
        )


UNAVAILABLE_BECAUSE: list[tuple[BaseException, str]] = [
    (ConnectionRefusedError(111, "Connection refused"), "cannot connect: Connection refused"),
    (ConnectionResetError(104, "Connection reset by peer"), "cannot connect: Connection reset by peer"),
    (TimeoutError(), "it did not answer in time"),
    (asyncpg.CannotConnectNowError("the database system is starting up"), "it is starting up"),
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"), "shutting down"),
    (asyncpg.TooManyConnectionsError("sorry, too many clients already"), "too many connections"),
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), "failed"),
    (asyncpg.InterfaceError("connection is closed"), "the connection was lost"),
    (
        asyncpg.InternalClientError("cannot switch to state 11; another operation (2) is in progress"),
        "ended by the server",
    ),
    (
        asyncpg.InterfaceError(
            "cannot call Connection.fetch(): connection has been released back to the pool"
        ),
        "the connection was lost",
    ),
]


@pytest.mark.parametrize("case", UNAVAILABLE_BECAUSE, ids=lambda case: type(case[0]).__name__)
def test_failures_that_mean_postgres_is_unavailable(case: tuple[BaseException, str]) -> None:
    error, because = case
    mapped = unavailable(error)
    assert mapped is not None and mapped.dependency == "PostgreSQL" and because in mapped.detail


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.UndefinedTableError('relation "x" does not exist'),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        ValueError("a bug"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_other_failures_are_not_unavailability(error: BaseException) -> None:
    assert unavailable(error) is None


def test_the_lease_bounds_how_long_a_vanished_peer_is_trusted() -> None:
    lease = 30
    settings = server_settings(lease)
    silent_for = int(settings["tcp_keepalives_idle"])
    silent_for += int(settings["tcp_keepalives_interval"]) * int(settings["tcp_keepalives_count"])
    assert silent_for <= lease and int(settings["tcp_user_timeout"]) == lease * 1000
    assert "idle_session_timeout" not in settings  # a lock holder may be quiet for as long as its work takes
