"""The uploader page and everything it loads, all from this server (the page makes no request elsewhere).

Routes:

- ``GET /``: ``frontend/index.html`` with its asset URLs made exact (below); when the npm assets are missing,
  a 503 page saying how to install them.
- ``GET /py/frontend.zip``: every Python module the browser runs, in one zip: ``frontend/engine``,
  ``frontend/browser`` and ``wire`` (the rules the engine shares with the server), each at its path in the
  repository, which is its import name (built when asked and kept while the sources are unchanged). The
  PyScript configuration of the page and of the embedded uploader's frame (a ``<py-config>`` in
  ``index.html`` and ``embed/embed.html``: no request for it) lists it under ``files`` with the destination
  ``./*``: PyScript fetches it in ONE request once the interpreter is up and unpacks it into the working
  directory (``/home/pyodide``, on ``sys.path``), where one request per module cost the start-up a round of
  requests. A new module needs no configuration change.
- ``GET /api/page``: what the page's Python needs to know of this server, as the API's envelope: the
  unfinished uploads' time to live (``uploadTtlSeconds``, ``--upload-ttl-seconds``), after which the page
  forgets the chunk plans it remembered for them (``frontend/engine/plan_cache.py``).
- ``GET /pyscript.json``: the same configuration with every module listed on its own (the local Pyodide as
  the interpreter and, under ``files``, each module of the packages, listed when asked), for tools that
  place the modules themselves (the benchmark's bare Pyodide worker, ``bench/pages/py_hash_worker.mjs``).
- ``/static/...`` (``frontend/static``), ``/py/engine/...``, ``/py/browser/...`` and ``/py/wire/...`` (the
  Python sources),
  ``/vendor/pyscript/...`` (``@pyscript/core/dist``) and ``/vendor/pyodide/...`` (the ``pyodide`` package).

**Exact URLs, cached for good.** The page (and the embed's frame, ``server/embed.py``) names each vendor
folder by its npm version (``/vendor/pyodide-314.0.2/...``, ``/vendor/pyscript-0.7.31/...``), the sources'
zip by its content (``/py/frontend-<digest>.zip``), the entry script by the same digest
(``/py/browser/main.py?v=<digest>``) and its own stylesheet and script by theirs
(``/static/page.css?v=<digest>``); those answers say ``immutable``, so a returning visitor's reload asks for
the document alone. Revalidating them (``no-cache``) cost a round trip each, several in a row (the entry
script, then pyodide.mjs, pyodide.asm.js, the wasm, the stdlib and the lock file, then our zip): measured
with Chromium's latency emulation at 100 ms, a reload to "Python ready" took 2.08 s revalidating and 1.60 s
with them all exact (about 1.5 s either way on loopback). The plain URLs stay served, revalidated, for other
pages and tools; a digest that is not the current one (a page from another version of the server) is
answered with today's file, not stored (``no-store``).

Every answer here carries the headers that make the page cross-origin isolated (HTML Standard, "cross-origin
isolation"): ``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Embedder-Policy: require-corp``,
plus ``Cross-Origin-Resource-Policy: same-origin`` on the assets. PyScript needs the isolation for a worker
that reaches the page's DOM synchronously (``SharedArrayBuffer`` + ``Atomics.wait``). The page may be framed
only by itself (``frame-ancestors 'self'``); pages elsewhere embed ``/embed`` instead (``server/embed.py``,
whose frame also uses these assets: same origin, so ``same-origin`` suits it).

Files are served by aiohttp's static resources (``follow_symlinks=False``: a path that resolves outside its
folder is a 404), with explicit MIME types for what matters to the browser (``.wasm`` must be
``application/wasm`` for streaming compilation; module scripts must be JavaScript).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import hdrs, web

from server import envelope
from server.keys import SETTINGS
from server.rfc.conditionals import EntityTag, if_none_match_passes

ROOT: Final = Path(__file__).resolve().parents[1]
FRONTEND: Final = ROOT / "frontend"
INDEX_HTML: Final = FRONTEND / "index.html"
NODE_MODULES: Final = FRONTEND / "node_modules"

# Name (URL prefix ``/py/<name>``) -> folder: the Python packages the browser runs, served as sources for the
# worker's ``files`` configuration and zipped; in the browser each goes where it is in the repository
# (``frontend/engine``, ``wire``...), so it imports by the same name as here.
PYTHON_PACKAGES: Final = {
    "engine": FRONTEND / "engine",
    "browser": FRONTEND / "browser",
    "wire": ROOT / "wire",
}
VENDOR: Final = {
    "/vendor/pyscript": NODE_MODULES / "@pyscript" / "core" / "dist",
    "/vendor/pyodide": NODE_MODULES / "pyodide",
}
OWN: Final = {
    "/static": FRONTEND / "static",
    **{f"/py/{name}": folder for name, folder in PYTHON_PACKAGES.items()},
}

# The npm package of each vendor folder: its ``package.json`` names the version its exact URL carries.
VENDOR_PACKAGES: Final = {
    "/vendor/pyscript": NODE_MODULES / "@pyscript" / "core",
    "/vendor/pyodide": NODE_MODULES / "pyodide",
}

PYODIDE_MODULE: Final = "/vendor/pyodide/pyodide.mjs"
PYTHON_ARCHIVE: Final = "/py/frontend.zip"
EXACT_ARCHIVE: Final = "/py/frontend-{digest}.zip"
PAGE_API: Final = "/api/page"

# Explicit types: the platform's mimetypes tables vary (``.toml``, ``.map``, ``.mjs`` are missing on some).
MIME_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".map": "application/json",
    ".zip": "application/zip",
    ".py": "text/x-python; charset=utf-8",
    ".toml": "application/toml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}

PAGE_HEADERS: Final = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
ASSET_HEADERS: Final = PAGE_HEADERS | {"Cross-Origin-Resource-Policy": "same-origin"}
# The page itself is not for framing elsewhere (the embeddable uploader is ``/embed``, see server/embed.py).
NO_FRAMING: Final = {"Content-Security-Policy": "frame-ancestors 'self'"}

# The page and our own sources change with the code: always revalidate (ETag/Last-Modified make that a 304).
REVALIDATE: Final = "no-cache"
# PyScript's chunks carry a content hash in their names (``core-C9KDLldu.js``): they never change.
IMMUTABLE: Final = "public, max-age=31536000, immutable"
_HASHED_NAME: Final = re.compile(r"-[A-Za-z0-9_-]{8}\.js(\.map)?$")
_ENTRY_SCRIPT: Final = re.compile(r'(src="/py/[a-z_]+/[a-z_]+\.py)"')  # <script type="py" src=...>
_STATIC_ASSET: Final = re.compile(r'((?:href|src)="(/static/[a-z_]+\.(?:css|js)))"')

# The static resources registered by ``setup``: their answers get the asset headers.
ASSET_RESOURCES: Final = web.AppKey("page_asset_resources", list[web.AbstractResource])

SETUP_MISSING_HTML: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Set-up needed</title><link rel="icon" href="data:,"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>The page's browser assets are not installed</h1>
<p>PyScript and Pyodide come from npm and are not in <code>frontend/node_modules</code>.
Install them (and the Python environment) with</p>
<pre style="background: #f3f3f3; padding: 0.75rem">bash scripts/setup.sh</pre>
<p>then restart the server. The API (<code>/api/...</code>) and the file routes work without them.</p>
</body></html>
"""


def _vendor_installed() -> bool:
    return all(path.is_dir() for path in VENDOR.values())


def _cache_control(request: web.Request) -> str:
    path = request.path
    if path.startswith("/vendor/pyscript/") and _HASHED_NAME.search(path):
        return IMMUTABLE
    if _vendor_installed() and any(path.startswith(exact + "/") for exact in exact_vendor().values()):
        return IMMUTABLE
    # Named with a digest (``exact_urls``): immutable if it is the current one's.
    if "v" in request.query and path.startswith(("/py/", "/static/")):
        current = python_archive()[1].strip('"') if path.startswith("/py/") else _static_digest(path)
        return IMMUTABLE if request.query["v"] == current else "no-store"
    return REVALIDATE


def _static_digest(path: str) -> str | None:
    """The digest of ``/static/<name>``'s bytes (what its exact URL carries); None if there is no such file."""
    name = path.removeprefix("/static/")
    file = OWN["/static"] / name
    if "/" in name or not file.is_file():
        return None
    return hashlib.blake2b(file.read_bytes(), digest_size=16).hexdigest()


@functools.cache
def _npm_version(package: Path) -> str:
    version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
    if not isinstance(version, str) or not re.fullmatch(r"[0-9A-Za-z.+-]+", version):
        raise ValueError(f"{package}/package.json: a version that cannot name a URL: {version!r}")
    return version


def exact_vendor() -> dict[str, str]:
    """Each vendor folder's URL -> the same folder's URL named by its npm version (``/vendor/pyodide`` ->
    ``/vendor/pyodide-314.0.2``), read once (a new npm install needs a restart, as the assets' check says)."""
    return {prefix: f"{prefix}-{_npm_version(package)}" for prefix, package in VENDOR_PACKAGES.items()}


def exact_urls(html: str) -> str:
    """``html`` with its assets' URLs made exact: the vendor folders by version, the sources' zip and the entry
    script by the zip's digest, ``/static/`` files by their own."""
    if _vendor_installed():
        for plain, exact in exact_vendor().items():
            html = html.replace(f'"{plain}/', f'"{exact}/')
    digest = python_archive()[1].strip('"')
    html = _ENTRY_SCRIPT.sub(rf'\1?v={digest}"', html)
    html = _STATIC_ASSET.sub(lambda found: f'{found[1]}?v={_static_digest(found[2])}"', html)
    return html.replace(f'"{PYTHON_ARCHIVE}"', '"' + EXACT_ARCHIVE.format(digest=digest) + '"')


async def index(request: web.Request) -> web.StreamResponse:
    if not _vendor_installed():
        return web.Response(
            status=503,
            text=SETUP_MISSING_HTML,
            content_type="text/html",
            headers={hdrs.CACHE_CONTROL: "no-store", hdrs.RETRY_AFTER: "60", **PAGE_HEADERS, **NO_FRAMING},
        )
    body = exact_urls(INDEX_HTML.read_text(encoding="utf-8")).encode("utf-8")
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {hdrs.CACHE_CONTROL: REVALIDATE, hdrs.ETAG: etag, **PAGE_HEADERS, **NO_FRAMING}
    if _not_modified(request, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: MIME_TYPES[".html"], **headers})


def _not_modified(request: web.Request, etag: str) -> bool:
    # RFC 9110, 13.1.2: when If-None-Match is false for a GET, "the origin server MUST NOT perform the
    # requested method; instead, the origin server MUST respond with the 304 (Not Modified) status code".
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    return if_none_match is not None and not if_none_match_passes(if_none_match, EntityTag(etag))


def _python_sources() -> list[tuple[str, Path]]:
    """``(package, path relative to it)`` of every module of the packages, in a stable order."""
    sources: list[tuple[str, Path]] = []
    for name, folder in PYTHON_PACKAGES.items():
        if not folder.is_dir():
            continue
        for source in sorted(folder.rglob("*.py")):
            relative = source.relative_to(folder)
            if any(part.startswith((".", "__pycache__")) for part in relative.parts[:-1]):
                continue
            sources.append((name, relative))
    return sources


def pyscript_config() -> dict[str, object]:
    """The worker's configuration: the local interpreter and the Python sources to put in its file system.

    PyScript resolves ``interpreter`` and the ``files`` URLs against this configuration's own URL, and writes
    each file to the given path relative to the worker's working directory (``/home/pyodide``, on
    ``sys.path``), so ``import frontend.engine``, ``import frontend.browser`` and ``import wire`` work there
    as they do here.
    """
    files = {
        f"/py/{name}/{relative.as_posix()}": f"./{_in_browser(name, relative)}"
        for name, relative in _python_sources()
    }
    return {"interpreter": PYODIDE_MODULE, "files": files}


def _in_browser(package: str, relative: Path) -> str:
    """Where a module goes in the browser's working directory: where it is in the repository."""
    return (PYTHON_PACKAGES[package] / relative).relative_to(ROOT).as_posix()


# Fixed entry times: the archive's bytes (and so its ETag) depend on the sources' contents only.
_ZIP_TIME: Final = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class _Archive:
    signature: tuple[tuple[str, int, int], ...]  # (path, mtime_ns, size) of every source
    body: bytes
    etag: str


_archive: _Archive | None = None


def python_archive() -> tuple[bytes, str]:
    """The zip of the Python sources (``frontend/engine/...``, ``frontend/browser/...``, ``wire/...``) and its
    ETag; rebuilt when a source's size or modification time changes (a listing of stats per request, not a
    read of every file)."""
    global _archive
    sources = _python_sources()
    paths = [PYTHON_PACKAGES[name] / relative for name, relative in sources]
    stats = [path.stat() for path in paths]
    signature = tuple((str(path), st.st_mtime_ns, st.st_size) for path, st in zip(paths, stats, strict=True))
    if _archive is None or _archive.signature != signature:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for (name, relative), path in zip(sources, paths, strict=True):
                entry = zipfile.ZipInfo(_in_browser(name, relative), date_time=_ZIP_TIME)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o644 << 16
                archive.writestr(entry, path.read_bytes())
        body = buffer.getvalue()
        _archive = _Archive(signature, body, '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"')
    return _archive.body, _archive.etag


async def archive(request: web.Request) -> web.Response:
    """The sources' zip at its plain URL (revalidated) or at its exact one (cached for good)."""
    body, etag = python_archive()
    digest = request.match_info.get("digest")
    if digest is None:
        cache = REVALIDATE
    else:
        cache = IMMUTABLE if f'"{digest}"' == etag else "no-store"  # another version's page: not kept
    headers = {hdrs.CACHE_CONTROL: cache, hdrs.ETAG: etag, **ASSET_HEADERS}
    if _not_modified(request, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/zip", headers=headers)


async def config(request: web.Request) -> web.Response:
    return web.json_response(
        pyscript_config(),
        dumps=lambda obj: json.dumps(obj, indent=1),
        headers={hdrs.CACHE_CONTROL: "no-store", **ASSET_HEADERS},
    )


async def page_api(request: web.Request) -> web.Response:
    """The server's settings the page's Python uses (``GET /api/page``)."""
    settings = request.app[SETTINGS]
    response = envelope.ok({"uploadTtlSeconds": settings.upload_ttl_seconds})
    response.headers[hdrs.CACHE_CONTROL] = "no-store"  # the flags may change with a restart
    return response


async def vendor_missing(request: web.Request) -> web.Response:
    return web.Response(
        status=503,
        text="frontend/node_modules is missing: run `bash scripts/setup.sh`, then restart the server\n",
        headers={hdrs.CACHE_CONTROL: "no-store", **ASSET_HEADERS},
    )


async def _asset_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers of every file served from the folders above (aiohttp's static resources set the rest)."""
    if request.match_info.route.resource not in request.app[ASSET_RESOURCES]:
        return
    response.headers.update(ASSET_HEADERS)
    response.headers[hdrs.CACHE_CONTROL] = _cache_control(request)
    suffix = Path(request.path).suffix.lower()
    if response.status in (200, 206) and suffix in MIME_TYPES:
        response.headers[hdrs.CONTENT_TYPE] = MIME_TYPES[suffix]


def setup(app: web.Application) -> None:
    """Register the page, its configuration and its assets on ``app``."""
    app.router.add_get("/", index)
    app.router.add_get("/pyscript.json", config)
    app.router.add_get(PAGE_API, page_api)
    app.router.add_get(PYTHON_ARCHIVE, archive)
    app.router.add_get(EXACT_ARCHIVE.format(digest="{digest:[0-9a-f]{32}}"), archive)
    folders = dict(OWN)
    if _vendor_installed():
        folders |= VENDOR
        folders |= {exact: VENDOR[plain] for plain, exact in exact_vendor().items()}
    else:
        for prefix in VENDOR:
            app.router.add_get(prefix + "/{tail:.*}", vendor_missing)
    app[ASSET_RESOURCES] = [
        app.router.add_static(prefix, folder, follow_symlinks=False, show_index=False)
        for prefix, folder in folders.items()
        if folder.is_dir()
    ]
    app.on_response_prepare.append(_asset_headers)
