"""Fixtures shared by every test layer: the real server as a process, and an HTTP session to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.server_process import ServerProcess

# The real PostgreSQL (`postgres`, `pg_dsn`) and S3 (`seaweedfs`) servers, started on first use.
pytest_plugins = ["tests.support.postgres", "tests.support.seaweedfs"]


BACKENDS = ("local", pytest.param("cluster", marks=pytest.mark.cluster))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``ON_EVERY_BACKEND = True`` runs each of its server tests against the local default and,
    marked ``cluster``, against PostgreSQL + S3 (a test about the local disk's layout skips the cluster with
    ``local_only``)."""
    if getattr(metafunc.module, "ON_EVERY_BACKEND", False) and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend the test's servers use: "local" (the embedded default) or "cluster"."""
    return getattr(request, "param", "local")


@pytest.fixture
def backend_flags(request: pytest.FixtureRequest, backend: str) -> tuple[str, ...]:
    """The flags that put a server on ``backend``: for the cluster, a fresh database and bucket of the
    session's PostgreSQL and SeaweedFS."""
    if backend == "local":
        return ()
    s3 = request.getfixturevalue("seaweedfs")
    return ("--database", request.getfixturevalue("pg_dsn"), "--storage", s3.fresh_location())


@pytest.fixture
def local_only(backend: str) -> None:
    """For a test about the local backend's files on disk: skipped on the cluster backend."""
    if backend != "local":
        pytest.skip("about the local backend's data dir")


@pytest.fixture
def make_server(tmp_path: Path, backend_flags: tuple[str, ...]) -> Iterator[Callable[..., ServerProcess]]:
    """Start real servers with extra flags; each gets its own data dir unless one is given."""
    started: list[ServerProcess] = []

    def make(*flags: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / f"data{len(started)}", *backend_flags, *flags, env=env)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole module of tests that do not depend on each other's state (bad input tables)."""
    server = ServerProcess(tmp_path_factory.mktemp("shared") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session
