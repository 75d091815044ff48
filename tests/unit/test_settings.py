"""Settings come from flags, then RT_* environment variables, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Fsync, MiB, Settings, VerifyChunks, parse_settings


def test_defaults() -> None:
    s = parse_settings([], environ={})
    assert s == Settings()
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8000, Path("data"))
    assert s.downloads_path == Path("data/downloads")
    assert s.cors_origins == ("*",)
    assert s.fsync is Fsync.FILES
    assert s.verify_chunks is VerifyChunks.ARRIVAL


def test_allowed_hosts_are_kept_as_host_names() -> None:
    argv = ["--allowed-hosts", "Files.Example.COM:443, b.example., *"]
    assert parse_settings(argv, environ={}).allowed_hosts == ("files.example.com", "b.example", "*")


def test_min_free_bytes() -> None:
    assert Settings().min_free_bytes == 256 * MiB
    assert parse_settings(["--min-free-bytes", "0"], environ={}).min_free_bytes == 0


def test_header_timeout() -> None:
    """nginx's client_header_timeout (60 s) by default; a flag, or RT_HEADER_TIMEOUT_SECONDS; positive."""
    assert Settings().header_timeout_seconds == 60.0
    assert parse_settings(["--header-timeout-seconds", "2.5"], environ={}).header_timeout_seconds == 2.5
    env = {"RT_HEADER_TIMEOUT_SECONDS": "7"}
    assert parse_settings([], environ=env).header_timeout_seconds == 7.0
    assert parse_settings(["--header-timeout-seconds", "9"], environ=env).header_timeout_seconds == 9.0


def test_verify_chunks_modes() -> None:
    assert parse_settings(["--verify-chunks", "Assembly"], environ={}).verify_chunks is VerifyChunks.ASSEMBLY
    env = {"RT_VERIFY_CHUNKS": "assembly"}
    assert parse_settings(["--verify-chunks", "arrival"], environ=env).verify_chunks is VerifyChunks.ARRIVAL


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("all", Fsync.ALL),
        ("true", Fsync.ALL),
        ("FILES", Fsync.FILES),
        ("none", Fsync.NONE),
        ("false", Fsync.NONE),
    ],
)
def test_fsync_modes(text: str, mode: Fsync) -> None:
    assert parse_settings(["--fsync", text], environ={}).fsync is mode


def test_environment_then_flags() -> None:
    env = {
        "RT_PORT": "9000",
        "RT_MAX_CHUNK_BYTES": str(2 * MiB),
        "RT_FSYNC": "off",
        "RT_CORS_ORIGINS": "https://a.example/, https://b.example",
    }
    s = parse_settings([], environ=env)
    assert (s.port, s.max_chunk_bytes, s.fsync) == (9000, 2 * MiB, Fsync.NONE)
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert parse_settings(["--port", "9100"], environ=env).port == 9100


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-chunk-bytes", "0"],
        ["--fsync", "maybe"],
        ["--upload-ttl-seconds", "-1"],
        ["--verify-chunks", "never"],
        ["--min-free-bytes", "-1"],
        ["--header-timeout-seconds", "0"],
    ],
)
def test_bad_values_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_settings(argv, environ={})
    assert info.value.code == 2


def test_bad_environment_value_is_named() -> None:
    with pytest.raises(SystemExit):
        parse_settings([], environ={"RT_PORT": "eighty"})
