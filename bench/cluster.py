"""A local cluster to try or to measure: PostgreSQL, SeaweedFS (S3), N server instances, nginx in front.

``python -m bench.cluster [--instances N] [--port P] [--data DIR] [-- server flags...]`` is what
``scripts/cluster.sh`` runs: it starts everything, prints the URL, and stops everything on Ctrl-C (SIGINT) or
SIGTERM. The cluster benchmarks (``bench/cluster_*.py``) start the same ``LocalCluster`` in their scratch
folder.

What runs, each a process of its own:

- PostgreSQL (``tests.support.postgres.PostgresServer``: Debian's binaries, trust authentication on
  127.0.0.1, as ``nobody`` when we are root), its data in ``<data>/postgres``; the database ``transfer``;
- SeaweedFS's ``weed mini`` (``tests.support.seaweedfs.SeaweedFS``), its data in ``<data>/seaweedfs``; the
  bucket ``files``;
- N instances of ``python -m server`` given the same ``--database`` and ``--storage`` (through ``RT_DATABASE``
  and ``RT_STORAGE``, so ``ps`` does not show the S3 secret), each on a free port, with
  ``--trusted-proxies 127.0.0.1`` and ``--public-url`` set to nginx's URL, so the URLs they answer point at
  the balancer and the per-client limits see the client behind it; their logs in ``<data>/instance-<i>.log``;
- nginx in front (``<data>/nginx``): round robin over the instances, no stickiness (any instance can serve
  any request: what one decides lives in PostgreSQL), request bodies streamed (``proxy_request_buffering
  off``), no body size limit, ``X-Forwarded-For`` set; an instance that fails is left out for 2 s and the
  request tried on another; its access log names the instance of each request.

A second start with the same ``--data`` reuses PostgreSQL's and SeaweedFS's data: files uploaded before are
still there (ports are chosen again). Instances and nginx are started in sessions of their own, with a
parent-death signal (``setpriv --pdeathsig``), as PostgreSQL is: if this process is killed outright they stop
too. (``weed mini`` is started by the tests' runner without one: it stops on Ctrl-C or SIGTERM here, not on a
``kill -9`` of this process.)
"""

from __future__ import annotations

import argparse
import collections
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Self

from botocore.exceptions import ClientError

from bench.servers import nginx_path
from tests.support.postgres import UNPRIVILEGED_USER, PostgresServer, find_bin_dir
from tests.support.seaweedfs import SeaweedFS
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "transfer"
BUCKET = "files"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_URL = re.compile(r"serving on (http://\S+?)/? ")
# Settings for the cluster's PostgreSQL on top of the tests' (tests.support.postgres): a cluster kept between
# starts should survive a crash of the machine, and a benchmark should pay for durable commits as a real
# deployment does.
DURABLE = {"fsync": "on", "full_page_writes": "on"}


# -- ports and processes ---------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def dying_with_us(command: Sequence[str]) -> list[str]:
    """``command`` run so that it gets SIGTERM when this process dies (``prctl(PR_SET_PDEATHSIG)``). The
    signal follows the thread that started the child: children are started from the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return list(command)
    return ["setpriv", "--pdeathsig=TERM", *command]


def _stop_process(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None, sig: int, timeout: float
) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children...), from /proc."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children[ppid].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by ``pid`` and everything below it, exited children included: each live process's
    ``utime + stime`` plus its ``cutime + cstime`` (proc(5): fields 14-17, the children it has waited for).
    PostgreSQL's backends are children of its postmaster: this counts all of them."""
    total = 0.0
    for one in (pid, *descendants(pid)):
        try:
            text = Path(f"/proc/{one}/stat").read_text()
        except OSError:
            continue  # exited meanwhile: counted in its parent's cutime once reaped
        fields = text[text.rindex(")") + 2 :].split()
        total += sum(int(value) for value in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


# -- the server instances --------------------------------------------------------------------------------------


class Instance:
    """One ``python -m server`` on a free port, its log in a file (and copied to stderr with ``echo``).
    (``tests.support.server_process.ServerProcess`` keeps its log in memory and dies with neither Ctrl-C's
    ordering nor its parent: this one runs in its own session, with a parent-death signal.)"""

    def __init__(
        self, name: str, data_dir: Path, flags: Sequence[str], env: Mapping[str, str], echo: bool = False
    ) -> None:
        self.name = name
        self.data_dir = data_dir
        self.flags = list(flags)
        self.env = dict(env)
        self.echo = echo
        self.log_path = data_dir.parent / f"{name}.log"
        self.url = ""
        self.recent: collections.deque[str] = collections.deque(maxlen=40)
        self.errors: list[str] = []
        self._ready = threading.Event()
        self._proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "server",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
            *self.flags,
        ]
        self._proc = subprocess.Popen(
            dying_with_us(command),
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a Ctrl-C in the terminal is for the cluster, which stops us in order
        )
        threading.Thread(target=self._pump, args=(self._proc,), daemon=True, name=f"{self.name}-log").start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            for line in proc.stderr:
                line = line.rstrip("\n")
                log.write(line + "\n")
                log.flush()
                self.recent.append(line)
                if "Traceback" in line or " ERROR " in line:
                    self.errors.append(line)
                if self.echo:
                    print(f"[{self.name}] {line}", file=sys.stderr, flush=True)
                match = _URL.search(line)
                if match and not self._ready.is_set():
                    self.url = match.group(1)
                    self._ready.set()
        self._ready.set()  # exited: wake the waiter

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        if not self._ready.wait(timeout) or not self.url or not self.running:
            raise RuntimeError(f"{self.name} did not start:\n" + "\n".join(self.recent))

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        _stop_process(self._proc, signal.SIGTERM, timeout)


# -- nginx -----------------------------------------------------------------------------------------------------

_NGINX_HEAD = """\
daemon off;
# One process, as the benchmarks' nginx: it does not switch to another user when started as root (its temp
# folders are ours), and its CPU is all of nginx's.
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_max_body_size 0;          # no limit: the instances enforce theirs (413 with a message)
    proxy_request_buffering off;     # stream request bodies to the instance as they arrive
    proxy_buffering off;             # and answers (downloads) back
    proxy_http_version 1.1;
    proxy_set_header Connection "";  # keep-alive to the upstreams
    proxy_set_header Host $http_host;
    proxy_read_timeout 300s;         # the last chunk's answer waits for the file's assembly
    proxy_send_timeout 300s;
"""

BALANCER_CONF = (
    _NGINX_HEAD
    + """\
    log_format upstream '$remote_addr [$time_iso8601] "$request" $status $request_length $bytes_sent '
                        'upstream=$upstream_addr $request_time';
    access_log {prefix}/access.log upstream;
    # Round robin (nginx's default), no stickiness: every instance can serve every request. An instance that
    # fails (refused, reset, 502/503) is left out for 2 s and the request tried on the next one, POSTs and
    # PATCHes too (non_idempotent): a chunk sent twice is kept once, a PATCH carries its Upload-Offset. (A body
    # nginx already began streaming cannot be replayed: the client gets a 502 and sends it again.)
    upstream instances {{
{servers}
        keepalive 64;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://instances;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries {instances};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""
)

# A counting proxy between the instances and S3 (benchmarks only): every S3 request is logged with its method,
# URI (the operation is in its query: ?uploadId=, ?partNumber=, ?delete) and body bytes each way. The Host header
# is passed as it came: it is part of what SigV4 signs.
S3_PROXY_CONF = (
    _NGINX_HEAD
    + """\
    log_format s3 '$request_method $request_uri $status $content_length $body_bytes_sent';
    access_log {prefix}/access.log s3;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass {upstream}; }}
        # "Writing: 1" here (this request alone) means every S3 request before it is finished, and logged.
        location = /.counting/status {{ stub_status; access_log off; }}
    }}
}}
"""
)


class Nginx:
    """nginx with one configuration, in its own folder (``prefix``), listening on ``host:port``."""

    def __init__(self, prefix: Path, conf: str, host: str, port: int) -> None:
        self.prefix, self.conf, self.host, self.port = prefix, conf, host, port
        self.access_log = prefix / "access.log"
        self.error_log = prefix / "error.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        exe = nginx_path()
        if exe is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "tmp" / folder).mkdir(parents=True, exist_ok=True)
        path = self.prefix / "nginx.conf"
        path.write_text(self.conf)
        self._proc = subprocess.Popen(
            dying_with_us([exe, "-c", str(path), "-p", str(self.prefix), "-e", str(self.error_log)]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def up() -> bool:
            if not self.running:
                raise RuntimeError(f"nginx did not start on {self.url}:\n{_tail(self.error_log)}")
            return accepts(self.host, self.port)

        try:
            wait_until(up, timeout, f"nginx to accept connections on {self.url}")
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        _stop_process(self._proc, signal.SIGTERM, timeout)  # nginx: TERM = fast shutdown


# -- PostgreSQL ------------------------------------------------------------------------------------------------


def _first_closed_folder(user_uid: int, path: Path) -> str | None:
    """The first folder above ``path`` that the user ``user_uid`` cannot enter (not its own, no ``o+x``),
    or None."""
    for folder in [*reversed(path.resolve().parents)]:
        mode = folder.stat()
        if mode.st_uid != user_uid and not mode.st_mode & 0o001:
            return str(folder)
    return None


def start_postgres(root: Path, settings: Mapping[str, str]) -> PostgresServer:
    """PostgreSQL over ``root``: created on the first start, reused on later ones (on a new free port, written
    to ``cluster.conf``, which ``postgresql.conf`` includes last so that it wins)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(root, bin_dir)
    if os.geteuid() == 0:
        blocked = _first_closed_folder(pwd.getpwnam(UNPRIVILEGED_USER).pw_uid, root)
        if blocked is not None:
            raise RuntimeError(
                f"PostgreSQL runs as nobody when we are root, and nobody cannot enter {blocked}: "
                "choose a --data folder others can reach (chmod o+x), e.g. under /tmp or /srv"
            )
    if not (server.data_dir / "PG_VERSION").exists():
        server.init()
        with open(server.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("include_if_exists = 'cluster.conf'\n")
    lines = {**DURABLE, **settings, "port": str(server.port)}
    (server.data_dir / "cluster.conf").write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
    server.start(timeout=START_TIMEOUT)
    return server


def psql(server: PostgresServer, sql: str, database: str = "postgres") -> str:
    """Run ``sql`` with psql over TCP (trust authentication); its output, unaligned, tuples only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    where = ["-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-d", database]
    command = [str(server.bin_dir / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", *where, "-c", sql]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**env, "LC_ALL": "C"})
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


def ensure_database(server: PostgresServer, name: str) -> None:
    if psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
        psql(server, f'CREATE DATABASE "{name}"')


# -- the cluster -----------------------------------------------------------------------------------------------


@dataclass
class ClusterConfig:
    data: Path  # PostgreSQL's, SeaweedFS's and the instances' folders, and the logs
    instances: int = 3
    host: str = "127.0.0.1"  # nginx's address
    port: int = 8080  # nginx's port; 0: a free one
    server_flags: Sequence[str] = ()  # given to every instance, after the cluster's own
    postgres_settings: Mapping[str, str] = field(default_factory=dict)  # more postgresql.conf lines
    balancer: bool = True  # nginx in front (``url`` is the first instance's without it)
    count_s3: bool = False  # the instances reach S3 through a counting nginx (``s3_proxy.access_log``)
    echo: bool = False  # copy the instances' logs to stderr


class LocalCluster:
    """``with LocalCluster(config) as cluster:`` everything runs; ``cluster.url`` is where clients go."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.postgres: PostgresServer | None = None
        self.seaweedfs: SeaweedFS | None = None
        self.s3_proxy: Nginx | None = None
        self.instances: list[Instance] = []
        self.balancer: Nginx | None = None
        self.database_url = ""
        self.storage_url = ""

    @property
    def url(self) -> str:
        if self.balancer is not None:
            return self.balancer.url
        return self.instances[0].url.rstrip("/")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        data = config.data.resolve()
        data.mkdir(parents=True, exist_ok=True)
        balancer_port = 0
        if config.balancer:
            balancer_port = config.port or free_port(config.host)
            if port_taken(config.host, balancer_port):
                raise RuntimeError(f"{config.host}:{balancer_port} is in use: choose another --port")

        self.postgres = start_postgres(data / "postgres", config.postgres_settings)
        ensure_database(self.postgres, DATABASE)
        self.database_url = self.postgres.dsn_for(DATABASE)

        self.seaweedfs = SeaweedFS(data / "seaweedfs")
        self.seaweedfs.start(timeout=START_TIMEOUT)
        try:
            self.seaweedfs.client.create_bucket(Bucket=BUCKET)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise
        endpoint = self.seaweedfs.endpoint
        if config.count_s3:
            port = free_port()
            conf = S3_PROXY_CONF.format(prefix=data / "s3-proxy", port=port, upstream=endpoint)
            self.s3_proxy = Nginx(data / "s3-proxy", conf, "127.0.0.1", port)
            self.s3_proxy.start()
            endpoint = self.s3_proxy.url
        self.storage_url = self.seaweedfs.url(BUCKET, endpoint=endpoint)

        flags: list[str] = []
        if config.balancer:
            flags += [
                "--trusted-proxies",
                "127.0.0.1",
                "--public-url",
                f"http://{config.host}:{balancer_port}",
            ]
        env = {"RT_DATABASE": self.database_url, "RT_STORAGE": self.storage_url}
        for number in range(1, config.instances + 1):
            instance = Instance(
                f"instance-{number}",
                data / f"instance-{number}",
                [*flags, *config.server_flags],
                env,
                config.echo,
            )
            self.instances.append(instance)
            instance.spawn()  # all at once: the schema's migration is safe to race (schema.migrate)
        for instance in self.instances:
            instance.wait_ready()

        if config.balancer:
            servers = "\n".join(
                f"        server {i.url.split('//', 1)[1].rstrip('/')} max_fails=1 fail_timeout=2s;"
                for i in self.instances
            )
            prefix = data / "nginx"
            conf = BALANCER_CONF.format(
                prefix=prefix,
                servers=servers,
                host=config.host,
                port=balancer_port,
                instances=len(self.instances),
            )
            self.balancer = Nginx(prefix, conf, config.host, balancer_port)
            self.balancer.start()

    def stop(self) -> None:
        """Stop everything, front to back: nginx, the instances (together), S3, PostgreSQL."""
        if self.balancer is not None:
            self.balancer.stop()
        for instance in self.instances:  # SIGTERM to all first, so they shut down side by side
            if instance.running:
                os.kill(instance.pid, signal.SIGTERM)
        for instance in self.instances:
            instance.stop()
        if self.s3_proxy is not None:
            self.s3_proxy.stop()
        if self.seaweedfs is not None:
            self.seaweedfs.stop(graceful=True)  # lets it flush its metadata: the data is kept
        if self.postgres is not None:
            self.postgres.stop()  # an immediate shutdown: the next start recovers from the WAL

    # -- looking at it ---------------------------------------------------------------------------------------

    def processes(self) -> dict[str, int]:
        """Name -> pid of every process the cluster started (PostgreSQL's is its postmaster)."""
        found: dict[str, int] = {}
        if self.postgres is not None and self.postgres.running:
            found["postgresql"] = _pid(self.postgres)
        if self.seaweedfs is not None and self.seaweedfs.running:
            found["seaweedfs"] = _pid(self.seaweedfs)
        if self.s3_proxy is not None and self.s3_proxy.running:
            found["s3-proxy"] = self.s3_proxy.pid
        for instance in self.instances:
            if instance.running:
                found[instance.name] = instance.pid
        if self.balancer is not None and self.balancer.running:
            found["nginx"] = self.balancer.pid
        return found

    def stopped(self) -> list[str]:
        """The parts that were started and are not running any more."""
        parts: list[tuple[str, bool]] = [
            ("PostgreSQL", self.postgres is not None and self.postgres.running),
            ("SeaweedFS", self.seaweedfs is not None and self.seaweedfs.running),
            *((i.name, i.running) for i in self.instances),
        ]
        if self.balancer is not None:
            parts.append(("nginx", self.balancer.running))
        return [name for name, running in parts if not running]

    def sql(self, query: str) -> str:
        assert self.postgres is not None
        return psql(self.postgres, query, DATABASE)


def _pid(runner: PostgresServer | SeaweedFS) -> int:
    """The process of a running tests.support runner (they keep it as ``_proc`` and expose no pid)."""
    proc = runner._proc
    assert proc is not None
    return proc.pid


# -- the command -----------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bash scripts/cluster.sh",
        description=(
            "Start a local cluster to try: PostgreSQL, SeaweedFS (S3), N server instances sharing them, nginx "
            "in front (round robin). Prints the URL; Ctrl-C stops everything. Arguments after -- go to every "
            "instance (python -m server --help)."
        ),
    )
    parser.add_argument("--instances", type=int, default=3, help="server instances (default 3)")
    parser.add_argument("--host", default="127.0.0.1", help="nginx's address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080; 0: a free one)")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("cluster-data"),
        help="folder for PostgreSQL's and SeaweedFS's data and the logs, kept between starts "
        "(default ./cluster-data, relative to the repository)",
    )
    parser.add_argument("server_flags", nargs="*", metavar="-- SERVER FLAGS", help=argparse.SUPPRESS)
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _supervise(cluster: LocalCluster) -> Iterator[str]:
    """Forever: the name of each part as it is found stopped (once each)."""
    told: set[str] = set()
    while True:
        for name in cluster.stopped():
            if name not in told:
                told.add(name)
                yield name
        time.sleep(1.0)  # a supervision interval, not synchronisation


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.instances < 1:
        raise SystemExit("--instances must be at least 1")
    if args.host in ("0.0.0.0", "::"):
        raise SystemExit("--host: give the address clients use (it goes into the answered URLs)")
    # Ctrl-C and SIGTERM both stop the cluster. SIGINT is set explicitly: a shell starting us in the background
    # hands SIGINT down ignored, and Python then leaves it so.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    config = ClusterConfig(
        data=args.data,
        instances=args.instances,
        host=args.host,
        port=args.port,
        server_flags=args.server_flags,
        echo=True,
    )
    cluster = LocalCluster(config)
    status = 0
    try:
        print(
            f"starting PostgreSQL, SeaweedFS, {args.instances} instance(s) and nginx in {args.data}",
            file=sys.stderr,
        )
        cluster.start()
        ports = ", ".join(i.url.rsplit(":", 1)[1].rstrip("/") for i in cluster.instances)
        print(
            f"  PostgreSQL: {cluster.database_url}\n"
            f"  S3 (SeaweedFS): {cluster.seaweedfs.endpoint if cluster.seaweedfs else '?'}, bucket {BUCKET}\n"
            f"  instances on 127.0.0.1 ports {ports} (logs: {config.data}/instance-<n>.log)\n"
            f"  nginx access log: {config.data}/nginx/access.log\n"
            "Ctrl-C stops everything.",
            file=sys.stderr,
        )
        print(f"cluster ready: {cluster.url}/", flush=True)
        for name in _supervise(cluster):
            print(f"cluster: {name} stopped by itself (see its log); the rest keeps running", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        status = 1
    finally:
        # Stopping must not be interrupted half-way by a second Ctrl-C: the parts would be left running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping...", file=sys.stderr, flush=True)
        cluster.stop()
        print("stopped", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
