"""Server settings: one frozen dataclass, filled from command-line flags and ``RT_*`` environment variables.

Every flag has an environment variable of the same name (``--max-chunk-bytes`` <-> ``RT_MAX_CHUNK_BYTES``);
a flag given on the command line wins over the environment, which wins over the default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path

from server.client_limits import parse_networks
from server.hosts import host_name

MiB = 1024 * 1024
GiB = 1024 * MiB

ENV_PREFIX = "RT_"


class Fsync(Enum):
    """What is fsynced before it counts as stored. Every mode survives ``kill -9`` (the page cache outlives the
    process); the modes differ on power loss or a kernel crash."""

    ALL = "all"  # each chunk too: nothing acknowledged is ever lost
    FILES = "files"  # published files and the assembled prefix (every 64 MiB), not each chunk: a power loss
    #                  can cost an upload in progress (the whole-file MD5 check then discards it: never a bad file)
    NONE = "none"  # nothing (tests, throwaway data)


class VerifyChunks(Enum):
    """When a chunk's bytes are checked against its id (its MD5). The whole file's MD5 is checked before it
    is published in both modes: nothing wrong is ever published either way."""

    # As it arrives: a damaged chunk is refused at once (422 CHUNK_MISMATCH), never stored.
    ARRIVAL = "arrival"
    # Only when the file's MD5 fails: half the hashing, but a damaged chunk is found when the file is complete
    # (422 CHUNKS_DAMAGED) and the whole file is re-hashed to find it.
    ASSEMBLY = "assembly"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    downloads_dir: Path | None = None  # default: <data_dir>/downloads
    public_url: str = ""  # base for absolute URLs in answers; default: taken from the request
    # Origins allowed to call the API cross-origin. "*" (the default) allows any origin: the seed's page
    # runs on another origin than the API and must keep working out of the box.
    cors_origins: tuple[str, ...] = ("*",)
    # Host header values answered (see server/hosts.py); empty: localhost, --host and IP literals, or any
    # with --public-url.
    allowed_hosts: tuple[str, ...] = ()
    max_chunk_bytes: int = 8 * MiB
    max_file_bytes: int = 16 * GiB
    max_chunks_per_file: int = 20_000
    max_uploads_in_progress: int = 1_000
    requests_per_second_per_client: float = 1000.0  # on /api/; 0: no limit
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks whose X-Forwarded-For is believed
    max_uploads_per_client: int = 200  # unfinished uploads one client may have started; 0: no limit
    max_upload_bytes_per_hour_per_client: int = 0  # chunk bytes one client may send an hour; 0: no limit
    upload_ttl_seconds: float = 24 * 3600.0
    empty_upload_ttl_seconds: float = 600.0  # an upload no chunk of which arrived
    sweep_interval_seconds: float = 600.0
    fsync: Fsync = Fsync.FILES
    # Connections (nginx's defaults are the reference: keep-alive 75 s, client header and body 60 s).
    idle_timeout_seconds: float = 75.0  # a connection on which no request has begun (after open or an answer)
    header_timeout_seconds: float = 60.0  # from a request head's first byte to its last (head_deadline.py)
    body_timeout_seconds: float = 60.0  # a request body from which no byte arrived for this long
    max_connections: int = 4096  # open at once; more are answered 503 and closed before anything is read
    # New uploads and chunks are refused (507) when the data dir's disk would keep less than this free.
    min_free_bytes: int = 256 * MiB
    verify_chunks: VerifyChunks = VerifyChunks.ARRIVAL
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line
    # --auth-secret mode (server/access/): tokens on every upload API and download request, and proof of
    # possession for instant uploads. Empty: the seed's open protocol. Never shown (repr, --help).
    auth_secret: str = field(default="", repr=False)
    # The cluster backend (server/storage/cluster/): metadata and locks in PostgreSQL, bytes in S3, shared by
    # every instance given the same two URLs. Both empty: the embedded default (local disk + SQLite). The
    # URLs may carry passwords: never shown.
    database: str = field(default="", repr=False)  # postgresql://user:password@host:port/dbname
    storage: str = field(default="", repr=False)  # s3://bucket?endpoint=...&region=...

    @property
    def clustered(self) -> bool:
        return bool(self.database)

    @property
    def downloads_path(self) -> Path:
        return self.downloads_dir if self.downloads_dir is not None else self.data_dir / "downloads"

    @property
    def max_handshake_bytes(self) -> int:
        """Largest handshake body that can be valid: every chunk id is at most 32 hex + 5 digits, quoted."""
        return 64 * 1024 + self.max_chunks_per_file * 48


def _fsync(text: str) -> Fsync:
    aliases = {"true": "all", "1": "all", "on": "all", "false": "none", "0": "none", "off": "none"}
    lowered = text.strip().lower()
    try:
        return Fsync(aliases.get(lowered, lowered))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected all, files or none, got {text!r}") from None


def _verify_chunks(text: str) -> VerifyChunks:
    try:
        return VerifyChunks(text.strip().lower())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected arrival or assembly, got {text!r}") from None


def _log_format(text: str) -> str:
    if text.strip().lower() not in ("text", "json"):
        raise argparse.ArgumentTypeError(f"expected text or json, got {text!r}")
    return text.strip().lower()


def _hosts(text: str) -> tuple[str, ...]:
    """Host names as ``server.hosts.host_name`` gives them (lowercase, no port), once, not per request."""
    return tuple(host_name(part) for part in text.split(",") if part.strip())


def _origins(text: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number, 0 or more, got {text!r}")
    return value


def _networks(text: str) -> tuple[str, ...]:
    entries = tuple(part.strip() for part in text.split(",") if part.strip())
    try:
        parse_networks(entries)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected IP addresses or networks, got {text!r}: {exc}") from None
    return entries


def _secret(text: str) -> str:
    """RFC 7518 section 3.2 (HS256): "A key of the same size as the hash output (for instance, 256 bits for
    "HS256") or larger MUST be used with this algorithm." Empty: no access control."""
    if text and len(text.encode("utf-8")) < 32:
        raise argparse.ArgumentTypeError("expected at least 32 bytes, e.g. from secrets.token_urlsafe(32)")
    return text


def _database(text: str) -> str:
    # libpq's URI form: "postgresql://[userspec@][hostspec][/dbname][?paramspec]" (postgres:// also accepted)
    if text and not text.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(
            "expected a postgresql:// URL, e.g. postgresql://user@db.example/files"
        )
    return text


def _storage(text: str) -> str:
    if text:
        from server.storage.cluster.objects import parse_s3_url  # only a cluster needs botocore

        try:
            parse_s3_url(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# flag name -> (parser, help text). The dataclass field is the flag name with dashes turned to underscores.
_FLAGS: dict[str, tuple[object, str]] = {
    "host": (str, "address to listen on"),
    "port": (int, "TCP port (0 picks a free one; the URL is logged)"),
    "data-dir": (Path, "where uploads, chunks and the SQLite database live"),
    "downloads-dir": (Path, "folder served at /download/ (default: <data-dir>/downloads)"),
    "public-url": (str, "base URL used in answers, e.g. https://files.example.com (default: from request)"),
    "cors-origins": (_origins, "comma-separated origins allowed to call the API, or * for any"),
    "allowed-hosts": (
        _hosts,
        (
            "comma-separated Host names answered, or * for any (default: localhost, --host and IP "
            "addresses; any with --public-url); others get 421"
        ),
    ),
    "max-chunk-bytes": (_positive_int, "largest accepted chunk, in bytes"),
    "max-file-bytes": (_positive_int, "largest accepted file, in bytes"),
    "max-chunks-per-file": (_positive_int, "most chunks one file may have"),
    "max-uploads-in-progress": (_positive_int, "most unfinished uploads kept at once"),
    "requests-per-second-per-client": (
        _non_negative_float,
        "API requests a second one client may make (a burst of as many is allowed); more get 429; 0: no limit",
    ),
    "max-uploads-per-client": (
        _non_negative_int,
        "unfinished uploads one client may have started (429 beyond; 0: no limit)",
    ),
    "max-upload-bytes-per-hour-per-client": (
        _non_negative_int,
        "chunk bytes one client may send an hour (429 with Retry-After beyond; 0: no limit)",
    ),
    "trusted-proxies": (
        _networks,
        "comma-separated proxy addresses or networks whose X-Forwarded-For names the client (limits use it)",
    ),
    "upload-ttl-seconds": (_positive_float, "unfinished uploads untouched this long expire"),
    "empty-upload-ttl-seconds": (
        _positive_float,
        "unfinished uploads that never received a chunk expire after this long untouched",
    ),
    "sweep-interval-seconds": (_positive_float, "how often expired uploads are swept"),
    "idle-timeout-seconds": (
        _positive_float,
        "close a connection on which no request has begun this long after it opened or after its last answer",
    ),
    "header-timeout-seconds": (
        _positive_float,
        "close a connection whose request head, once begun, is not complete within this time (no answer)",
    ),
    "body-timeout-seconds": (
        _positive_float,
        "answer 408 and close when no byte of a request body arrived for this long (a handshake: all of it)",
    ),
    "max-connections": (_positive_int, "most connections open at once; more are answered 503 and closed"),
    "min-free-bytes": (
        _non_negative_int,
        "refuse new uploads and chunks (507) when the data dir's disk would keep less free (0: no margin)",
    ),
    "fsync": (_fsync, "what is fsynced before it counts as stored: all (each chunk), files, none"),
    "verify-chunks": (
        _verify_chunks,
        (
            "when chunks are checked against their ids: arrival (each as it arrives) or assembly (only when "
            "the file's MD5 fails)"
        ),
    ),
    "log-level": (str, "logging level (DEBUG, INFO, WARNING, ...)"),
    "log-format": (_log_format, "text (one line per event) or json (one JSON object per line)"),
    "auth-secret": (
        _secret,
        (
            "require signed, expiring tokens (python -m server.access mint) on uploads and downloads, and "
            "proof of possession for instant uploads; at least 32 bytes; empty: the open protocol"
        ),
    ),
    "database": (
        _database,
        "PostgreSQL URL for the cluster backend's metadata and locks (with --storage; default: local SQLite)",
    ),
    "storage": (
        _storage,
        (
            "s3://<bucket>?endpoint=<url>&region=..&access_key=..&secret_key=.. for the cluster backend's "
            "bytes (with --database; default: the data dir's disk)"
        ),
    ),
}
_HIDDEN = frozenset({"auth-secret", "database", "storage"})  # flags whose value --help must not print


def parse_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from flags, then ``RT_*`` environment variables, then defaults."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="Resumable file transfer server (uploads in chunks, downloads with ranges).",
        epilog="Each flag can also be set by an environment variable: RT_ + the flag in capitals with "
        "underscores, e.g. RT_MAX_CHUNK_BYTES.",
    )
    defaults = Settings()
    for flag, (kind, help_text) in _FLAGS.items():
        name = flag.replace("-", "_")
        env_name = ENV_PREFIX + name.upper()
        default = getattr(defaults, name)
        if env_name in environ:
            try:
                default = kind(environ[env_name])  # type: ignore[operator]
            except (ValueError, argparse.ArgumentTypeError) as exc:
                parser.error(f"{env_name}: {exc}")
        shown = ",".join(default) if isinstance(default, tuple) else getattr(default, "value", default)
        if flag in _HIDDEN:
            shown = "(set)" if default else "(none)"
        parser.add_argument(
            f"--{flag}", type=kind, default=default, help=f"{help_text} [{env_name}; default: {shown}]"
        )
    args = parser.parse_args(argv)
    if bool(args.database) != bool(args.storage):
        parser.error("--database and --storage go together: the cluster backend needs both (or neither)")
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in vars(args).items() if k in known})
