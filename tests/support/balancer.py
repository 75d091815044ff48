"""nginx as a round-robin load balancer in front of several server processes (a cluster's instances).

``Balancer(ports, root).start()`` runs Debian's nginx (found as the benchmarks find it,
``bench.servers.nginx_path``) as one process on a free port of 127.0.0.1 with a generated configuration:

- **round robin, no stickiness**: nginx's default balancing, so consecutive requests of one client (the chunks
  of one upload, a tus upload's PATCHes) land on different instances;
- **a dead instance is routed around**: ``max_fails=1 fail_timeout=2s`` takes an instance out for 2 s after
  one failed attempt, and ``proxy_next_upstream error timeout http_502 http_503 non_idempotent`` passes a
  request that could not be delivered to the next instance (``proxy_next_upstream_tries`` bounds it to one
  try per instance). A 503 counts as a failure too (an instance out of connections, or whose PostgreSQL or S3
  is out of reach: another may do better); a 503 that reaches the client came from the last instance tried.
  ``non_idempotent``: without it nginx never retries a POST or PATCH once it has sent anything of it, not
  even on a pooled keep-alive connection the dead instance left behind. Retrying them is safe for this
  protocol: a chunk sent twice is kept once, a PATCH carries its ``Upload-Offset``. With the body streamed
  (next point) nginx cannot replay one it started sending: such a request gets nginx's 502, and the client
  sends it again, as it would after any lost connection;
- **bodies stream both ways**: ``proxy_request_buffering off`` and ``client_max_body_size 0`` (chunks and
  PATCHes go through as they arrive, whatever their size), ``proxy_buffering off`` (downloads too),
  ``proxy_http_version 1.1`` with keep-alive connections to the instances;
- **the client's address** is passed in ``X-Forwarded-For`` (the servers must be started with
  ``--trusted-proxies 127.0.0.1`` to believe it), the ``Host`` as the client sent it (so ``Location`` and the
  URLs in answers point at the balancer).

Which instance served what: an access log with one JSON object per request (``requests()``), naming the
instance(s) nginx passed it to (``$upstream_addr``, a list when it had to try several) and what each answered.
Chosen over each server's ``/metrics``: a server killed with ``kill -9`` takes its counters with it, and the
log also shows the requests nginx routed around a dead instance.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.servers import nginx_path

START_TIMEOUT = 10.0

_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format balanced escape=json
        '{{"method":"$request_method","uri":"$uri","status":"$status",'
        '"upstream":"$upstream_addr","upstream_status":"$upstream_status"}}';
    access_log {root}/access.log balanced;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    upstream cluster {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://cluster;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries {tries};
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Proxied:
    """One line of the access log: a request as nginx passed it on."""

    method: str
    uri: str
    status: int  # what the client got
    upstreams: tuple[str, ...]  # the instances tried, in order ("127.0.0.1:port"); empty if none was
    upstream_statuses: tuple[str, ...]  # what each answered ("502" for one that could not be reached)

    @property
    def served_by(self) -> int | None:
        """The port of the instance whose answer the client got (the last one tried), None if none."""
        return int(self.upstreams[-1].rsplit(":", 1)[1]) if self.upstreams else None


def _split(value: str) -> tuple[str, ...]:
    # nginx separates the servers of one request with ", " (and internal redirects with " : ").
    return tuple(
        part.strip() for part in value.replace(" : ", ", ").split(",") if part.strip() not in ("", "-")
    )


class Balancer:
    """nginx balancing ``127.0.0.1:<port>`` for each of ``ports``; its files (config, logs) under ``root``."""

    def __init__(self, ports: list[int], root: Path) -> None:
        self.ports = list(ports)
        self.root = root
        self.port = 0
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    def config(self, port: int) -> str:
        servers = "\n".join(
            f"        server 127.0.0.1:{upstream} max_fails=1 fail_timeout=2s;" for upstream in self.ports
        )
        return _CONF.format(root=self.root, port=port, servers=servers, tries=len(self.ports))

    def start(self) -> str:
        exe = nginx_path()
        if exe is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):  # the free port may be taken between asking and binding
            port = _free_port()
            conf = self.root / "nginx.conf"
            conf.write_text(self.config(port))
            self._proc = subprocess.Popen(
                [exe, "-c", str(conf), "-p", str(self.root), "-e", str(self.root / "error.log")],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + START_TIMEOUT
            while self._proc.poll() is None and not _accepts(port) and time.monotonic() < deadline:
                time.sleep(0.02)  # polling for the port, not synchronisation
            if self._proc.poll() is None and _accepts(port):
                self.port, self.url = port, f"http://127.0.0.1:{port}"
                return self.url
            self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.error_log()}")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else "(no error log)"

    def requests(self) -> list[Proxied]:
        """Every request answered so far (nginx writes a line as each one ends)."""
        if not self.access_log.exists():
            return []
        found = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            entry: dict[str, Any] = json.loads(line)
            found.append(
                Proxied(
                    entry["method"],
                    entry["uri"],
                    int(entry["status"]),
                    _split(entry["upstream"]),
                    _split(entry["upstream_status"]),
                )
            )
        return found

    def served(self, method: str, uri: str, status: int = 200, prefix: bool = False) -> Counter[int]:
        """How many ``method`` requests of ``uri`` (or under it, with ``prefix``) that got ``status`` each
        instance (by port) answered."""
        return Counter(
            entry.served_by
            for entry in self.requests()
            if entry.method == method
            and (entry.uri.startswith(uri) if prefix else entry.uri == uri)
            and entry.status == status
            and entry.served_by is not None
        )

    def routed_around(self) -> list[Proxied]:
        """Requests nginx passed to more than one instance (the first could not be reached, or answered
        502/503)."""
        return [entry for entry in self.requests() if len(entry.upstreams) > 1]
