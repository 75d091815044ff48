"""A private PostgreSQL for a test session: Debian's binaries, a throw-away cluster, one database per test.

``PostgresServer`` runs ``initdb`` once in a temporary directory, then ``postgres`` itself on a free port of
127.0.0.1 (and a unix socket inside that directory), with trust authentication and fsync off (a test
cluster need not survive a crash of the machine, only its own). ``stop()`` sends what ``pg_ctl stop -m
immediate`` does (SIGQUIT: every backend dies at once, the next start recovers) and ``start()`` brings it
back on the same port and data directory, so a test can take PostgreSQL away mid-operation.

PostgreSQL refuses to run as root: when the tests do, every PostgreSQL program runs as ``nobody`` through
``setpriv``, and the temporary directory belongs to that user. ``setpriv --pdeathsig`` also makes the server
die with the test process if that is killed, so no cluster outlives its session.

Fixtures (registered in ``tests/conftest.py``): ``postgres``, the session's server; ``pg_dsn``, the DSN of a
fresh database for one test, dropped after it (PostgreSQL is started again first if the test stopped it).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support.waiting import wait_until

SUPERUSER = "postgres"
UNPRIVILEGED_USER = "nobody"  # who runs PostgreSQL when the tests run as root
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "100",
    "shared_buffers": "32MB",  # small: the machine is shared with other test sessions
    # A test cluster is thrown away: nothing needs to survive a crash of the machine (fsync), but every commit
    # must survive the server's own crash, which ``stop`` is (so synchronous_commit stays on: WAL is written
    # to the kernel before a commit returns).
    "fsync": "off",
    "full_page_writes": "off",
}


def find_bin_dir() -> Path | None:
    """Where ``initdb``, ``postgres`` and ``pg_isready`` are: ``$PG_BIN_DIR``, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin`` (not on PATH), else PATH."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        newest = max(
            found, key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0
        )
        return Path(newest).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in ``root`` (created by ``init``), started and stopped at will."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.data_dir = root / "data"
        self.socket_dir = root / "sock"
        self.log_path = root / "postgres.log"
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._databases = itertools.count(1)
        self._user = pwd.getpwnam(UNPRIVILEGED_USER) if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        """The maintenance database's DSN (over TCP, as a server in another host would connect)."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle ------------------------------------------------------------------------------------------

    def init(self) -> None:
        """Create the cluster (about 0.7 s) and write its settings."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        settings = {
            **_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (same port, same data) and return once it accepts connections."""
        if self.running:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server writes to it until it stops
        with log:
            self._proc = subprocess.Popen(
                [*self._as_owner(die_with_us=True), str(self.bin_dir / "postgres"), "-D", str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C in the terminal is the test runner's, not the server's
                env=self._env(),
            )
        wait_until(self._accepts_connections, timeout, "PostgreSQL to accept connections")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop at once, as ``pg_ctl stop -m immediate`` does: every connection drops, nothing is flushed."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGQUIT)
            self._proc.wait(timeout)
        self._proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- databases -------------------------------------------------------------------------------------------

    async def fresh_database(self) -> str:
        """Create an empty database ``test_<n>``; its DSN."""
        name = f"test_{next(self._databases)}"
        connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.dsn_for(name)

    async def drop_database(self, dsn: str) -> None:
        """Drop a database made by ``fresh_database``, closing whatever is still connected to it."""
        name = dsn.rsplit("/", 1)[1]
        connection = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    # -- helpers ---------------------------------------------------------------------------------------------

    def _accepts_connections(self) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited while starting; its log ends with:\n{self.log_tail()}")
        ready = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            check=False,
            env=self._env(),
        )
        return ready.returncode == 0

    def _as_owner(self, die_with_us: bool = False) -> list[str]:
        """The command prefix that runs a PostgreSQL program as the cluster's owner (``nobody`` under root),
        and, when asked, kills it (SIGQUIT) if this process dies. The death signal follows the thread that
        starts the program, so it is asked for from the main thread only."""
        prefix = ["setpriv"]
        if die_with_us and threading.current_thread() is threading.main_thread():
            prefix.append("--pdeathsig=QUIT")
        if self._user is not None:
            prefix += [f"--reuid={self._user.pw_uid}", f"--regid={self._user.pw_gid}", "--clear-groups"]
        return prefix if len(prefix) > 1 else []

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as_owner(), str(self.bin_dir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            env=self._env(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}")

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        return {**env, "LC_ALL": "C", "HOME": str(self.root)}


def start_postgres() -> PostgresServer:
    """A new cluster in a new temporary directory, started (for scripts and benchmarks too)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: scripts/test.sh installs it, or run apt-get install postgresql"
        )
    # Not under pytest's tmp_path: that is private to the test runner's user, and PostgreSQL may run as
    # another one.
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="test-postgres-")), bin_dir)
    try:
        server.init()
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL, started on first use and removed at the end."""
    try:
        server = start_postgres()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
async def pg_dsn(postgres: PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped after it."""
    dsn = await postgres.fresh_database()
    yield dsn
    postgres.start()  # a test that stopped PostgreSQL leaves it running for the next one
    await postgres.drop_database(dsn)
