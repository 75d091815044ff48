"""How the server serves the page and its assets (plain HTTP, no browser): types, isolation headers,
caching, the worker's configuration, path safety, and the page's answer when the npm assets are missing."""

from __future__ import annotations

import ast
import http.client
import io
import json
import re
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server import page
from server.app import create_app
from server.settings import Settings
from tests.support.server_process import ServerProcess

ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


def get(url: str) -> tuple[int, Message, bytes]:
    return get_request(urllib.request.Request(url))


def get_request(request: urllib.request.Request) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw_get(server: ServerProcess, path: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte (urllib would normalise ``..``)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_the_page_is_cross_origin_isolated_and_not_cached(server: ServerProcess) -> None:
    status, headers, body = get(server.url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    for name, value in ISOLATION.items():
        assert headers[name] == value
    assert headers["Cache-Control"] == "no-cache"
    exact = page.exact_vendor()
    assert f'src="{exact["/vendor/pyscript"]}/core.js"'.encode() in body
    # The worker's configuration is in the page: the local Pyodide, our sources as one archive, both at
    # exact URLs (by npm version, by the zip's digest).
    start = body.index(b"<py-config")
    config = json.loads(body[body.index(b">", start) + 1 : body.index(b"</py-config>")])
    assert config["interpreter"] == exact["/vendor/pyodide"] + "/pyodide.mjs"
    digest = get(server.url + page.PYTHON_ARCHIVE)[1]["ETag"].strip('"')
    assert config["files"] == {f"/py/frontend-{digest}.zip": "./*"}
    # A reload revalidates the page itself: a 304.
    again = urllib.request.Request(server.url + "/", headers={"If-None-Match": headers["ETag"]})
    assert get_request(again)[0] == 304


EXACT_URL = re.compile(rb'(?:(?:src|href)=|"interpreter":\s*)"(/[^"]+)"|"(/py/frontend-[0-9a-f]+\.zip)"')


def test_every_asset_the_page_names_is_cached_for_good(server: ServerProcess) -> None:
    """What the page loads is named exactly (a version, a digest): a returning visitor's reload asks nothing."""
    _, _, body = get(server.url + "/")
    urls = {a or b for a, b in EXACT_URL.findall(body)}
    assert len(urls) == 6, urls  # core.js, page.css, intake.js, pyodide.mjs, the zip, the entry script
    for url in urls:
        status, headers, content = get(server.url + url.decode())
        assert status == 200 and content, url
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable", url
    # Pyodide's own files, loaded relative to pyodide.mjs, are under the same exact folder.
    wasm = page.exact_vendor()["/vendor/pyodide"] + "/pyodide.asm.wasm"
    assert get(server.url + wasm)[1]["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    "path",
    ["/py/frontend-00000000000000000000000000000000.zip", "/py/browser/main.py?v=0", "/static/page.css?v=0"],
)
def test_a_digest_of_another_version_gets_todays_file_not_kept(server: ServerProcess, path: str) -> None:
    """A page from another version of the server (an older tab, another instance) still starts; what it is
    sent under a digest that is not the file's is not stored anywhere."""
    status, headers, body = get(server.url + path)
    assert status == 200 and body
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("/vendor/pyodide/pyodide.asm.wasm", "application/wasm", "no-cache"),
        ("/vendor/pyodide/pyodide.mjs", "text/javascript", "no-cache"),
        ("/vendor/pyodide/python_stdlib.zip", "application/zip", "no-cache"),
        ("/vendor/pyodide/pyodide-lock.json", "application/json", "no-cache"),
        ("/vendor/pyscript/core.js", "text/javascript", "no-cache"),
        ("/static/page.css", "text/css", "no-cache"),
        ("/static/intake.js", "text/javascript", "no-cache"),
        ("/py/engine/ports.py", "text/x-python", "no-cache"),
        ("/py/browser/main.py", "text/x-python", "no-cache"),
        ("/py/frontend.zip", "application/zip", "no-cache"),
    ],
)
def test_assets_have_their_type_and_isolation_headers(
    server: ServerProcess, path: str, content_type: str, cache: str
) -> None:
    status, headers, body = get(server.url + path)
    assert status == 200, path
    assert headers["Content-Type"].split(";")[0] == content_type
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    for name, value in ISOLATION.items():
        assert headers[name] == value
    assert headers["Cache-Control"] == cache
    assert headers["ETag"]  # revalidation is a cheap 304
    assert body


def test_pyscripts_hashed_chunks_are_cached_for_good(server: ServerProcess) -> None:
    dist = page.VENDOR["/vendor/pyscript"]
    hashed = next(p.name for p in sorted(dist.glob("core-*.js")))
    status, headers, _ = get(f"{server.url}/vendor/pyscript/{hashed}")
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_the_module_by_module_config_uses_the_local_pyodide_and_lists_every_module(
    server: ServerProcess,
) -> None:
    """``/pyscript.json``: every module listed on its own (the benchmark's bare Pyodide worker reads it)."""
    status, _headers, body = get(server.url + "/pyscript.json")
    assert status == 200
    config = json.loads(body)
    assert config["interpreter"] == "/vendor/pyodide/pyodide.mjs"
    files = config["files"]
    for package, folder in page.PYTHON_PACKAGES.items():
        for module in folder.glob("*.py"):  # each where it is in the repository: it imports by that name
            assert files[f"/py/{package}/{module.name}"] == f"./{module.relative_to(page.ROOT).as_posix()}"
    assert {"./frontend/engine/__init__.py", "./frontend/browser/main.py", "./wire/ids.py"} <= set(
        files.values()
    )
    assert all(url.startswith("/py/") for url in files)  # nothing from elsewhere


def test_the_archive_holds_every_module_and_revalidates(server: ServerProcess) -> None:
    status, headers, body = get(server.url + page.PYTHON_ARCHIVE)
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = set(archive.namelist())
        for folder in page.PYTHON_PACKAGES.values():
            for module in folder.glob("*.py"):
                name = module.relative_to(page.ROOT).as_posix()
                assert name in names
                assert archive.read(name) == module.read_bytes()
    assert "wire/ids.py" in names  # the rules the engine shares with the server
    assert all(name.startswith(("frontend/engine/", "frontend/browser/", "wire/")) for name in names)
    url = server.url + page.PYTHON_ARCHIVE
    assert get_request(urllib.request.Request(url, headers={"If-None-Match": headers["ETag"]}))[0] == 304
    assert get_request(urllib.request.Request(url, headers={"If-None-Match": '"other"'}))[0] == 200


# The page's entry points (``index.html``'s worker script, ``embed/embed.html``'s script).
ENTRY_POINTS = ("frontend/browser/main.py", "frontend/browser/embed_main.py")


def _entry(dotted: str, entries: set[str]) -> str | None:
    """The archive's file for a module or package name, if the archive has one."""
    path = dotted.replace(".", "/")
    return next((e for e in (f"{path}.py", f"{path}/__init__.py") if e in entries), None)


def _imports(entry: str, source: str, entries: set[str]) -> set[str]:
    """The archive's files that importing ``entry`` imports directly (each package on the way included)."""
    package = entry.rsplit("/", 1)[0].replace("/", ".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = (
                package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
            )
            base = ".".join([*parts, *([node.module] if node.module else [])])
            dotted = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in dotted:
            steps = name.split(".")
            found |= {e for i in range(len(steps)) if (e := _entry(".".join(steps[: i + 1]), entries))}
    return found


def test_the_archive_holds_only_what_the_page_runs() -> None:
    """Every module in the zip is imported, directly or not, by one of the page's entry points: no test
    support or tool ships to the browser."""
    body, _etag = page.python_archive()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        sources = {name: archive.read(name).decode() for name in archive.namelist()}
    entries = set(sources)
    reached, todo = set(ENTRY_POINTS), list(ENTRY_POINTS)
    while todo:
        entry = todo.pop()
        for found in _imports(entry, sources[entry], entries) - reached:
            reached.add(found)
            todo.append(found)
    assert entries - reached == set()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../server/page.py",
        "/static/%2e%2e/%2e%2e/server/page.py",
        "/static/..%2f..%2fserver%2fpage.py",
        "/py/engine/../../../pyproject.toml",
        "/vendor/pyodide/../../package.json",
        "/vendor/pyodide/%2e%2e/%2e%2e/package-lock.json",
        "/static//etc/passwd",
        "/py/browser/",
    ],
)
def test_no_path_leaves_the_asset_folders(server: ServerProcess, path: str) -> None:
    status, body = raw_get(server, path)
    assert 400 <= status < 500, (path, status)  # 404, or 400/403 for a folder: never the file
    assert b"aiohttp" not in body and b"dependencies" not in body and b"root:" not in body


@pytest.fixture
def no_node_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    missing = tmp_path / "node_modules"
    monkeypatch.setattr(
        page, "VENDOR", {prefix: missing / prefix.rsplit("/", 1)[1] for prefix in page.VENDOR}
    )
    yield


async def test_without_the_npm_assets_the_page_says_how_to_install_them(
    no_node_modules: None, tmp_path: Path
) -> None:
    """The server still starts (in-process here: the condition is a missing folder) and explains itself."""
    runner = web.AppRunner(create_app(Settings(data_dir=tmp_path / "data", port=0)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/") as answer:
                assert answer.status == 503
                assert "bash scripts/setup.sh" in await answer.text()
            async with session.get(base + "/vendor/pyodide/pyodide.mjs") as answer:
                assert answer.status == 503
                assert "bash scripts/setup.sh" in await answer.text()
            async with session.post(base + "/api/upload/handshake", json={}) as answer:
                assert answer.status < 500  # the API does not depend on the page's assets
    finally:
        await runner.cleanup()
