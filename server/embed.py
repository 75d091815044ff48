"""The embeddable uploader: ``/embed.js`` for host pages, ``/embed`` (its iframe's document), ``/api/embed``.

A host page on any origin loads ``/embed.js`` (a custom element, ``<resumable-uploader>``), which first asks
``GET /api/embed?<options>`` and then shows ``/embed?<options>`` in an iframe. The iframe's document is ours:
same origin as the API (its uploads need no CORS), its Python runs on the frame's main thread.

Headers, exactly what embedding needs (and the ``--cors-origins`` allow-list decides who may embed):

- ``/embed.js``: public code that any page may load: ``Cross-Origin-Resource-Policy: cross-origin`` (so even
  a cross-origin-isolated host may) and ``Access-Control-Allow-Origin: *``.
- ``/api/embed``: CORS like the rest of the API (``server.middleware``): an origin not on the allow-list gets
  ``403 ORIGIN_NOT_ALLOWED``, whose message the host can read, so the element can say why it is not shown.
  Otherwise the server's limits and the options as the uploader will use them; bad options are a
  ``400 BAD_EMBED_OPTION`` saying which and why.
- ``/embed``: ``Content-Security-Policy: frame-ancestors 'self' <allowed origins>`` (``*`` when any origin is
  allowed): the browser refuses to show it in a page of any other origin (CSP Level 3, "frame-ancestors").
  No COOP/COEP: a frame in a page that is not isolated cannot be isolated, and COEP would only block.
- ``/embed/frame.js``, ``/embed/embed.css``: the frame's own assets, ``Cross-Origin-Resource-Policy:
  same-origin`` (the frame is same-origin with them); the other assets (PyScript, Pyodide, the Python
  sources, the page's CSS and intake) are the page's, served by ``server.page``.

The options are the element's attributes, passed in the query: ``id``, ``lang``, ``parallel``, ``accept``,
``max-size``, ``multiple``, ``label-choose``, ``label-drop``, ``token``. They are checked here once
(``parse_options``), rendered into the document (static texts in the chosen language, the input's
``accept``/``multiple``) and handed to Python as JSON. ``token`` (``--auth-secret`` mode) is the upload token
the host application minted, which the frame's engine sends as ``Authorization: Bearer``: ``/api/embed``
checks it and never echoes it, and the document that carries it is ``no-store`` and sends no referrer. The
option's rules that the frame's Python applies again (``accept``, ``lang``) are the shared ``wire.accept``
and ``wire.languages``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from string import Template
from typing import Final

from aiohttp import hdrs, web

from server import envelope
from server.access.middleware import check_embed_token
from server.access.tokens import MAX_TOKEN_CHARS
from server.errors import ApiError, E
from server.keys import SETTINGS
from server.page import FRONTEND, MIME_TYPES, REVALIDATE, exact_urls
from server.settings import Settings
from wire.accept import Accept, BadAccept
from wire.languages import STARTUP_TEXTS, pick_lang

EMBED_DIR: Final = FRONTEND / "embed"
EMBED_JS: Final = EMBED_DIR / "embed.js"
EMBED_HTML: Final = EMBED_DIR / "embed.html"
FRAME_ASSETS: Final = {"frame.js": EMBED_DIR / "frame.js", "embed.css": EMBED_DIR / "embed.css"}

MAX_PARALLEL: Final = 16
MAX_LABEL: Final = 100
_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A serialized origin (HTML Standard): scheme "://" host [":" port]; anything else cannot go in a CSP source.
_ORIGIN: Final = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_TRUE: Final = {"", "1", "true", "multiple", "yes", "on"}
_FALSE: Final = {"0", "false", "no", "off"}
# RFC 6750 section 2.1's b64token: what an Authorization: Bearer credential may hold.
_TOKEN: Final = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


@dataclass(frozen=True)
class EmbedOptions:
    id: str = ""
    lang: str = "en"
    parallel: int | None = None  # None: chunks in flight follow the link (the engine's in_flight.py)
    accept: Accept = field(default_factory=Accept)
    max_size: int | None = None  # as the host asked (None: no limit of its own)
    multiple: bool = False
    label_choose: str | None = None
    label_drop: str | None = None
    token: str | None = field(default=None, repr=False)  # --auth-secret: the upload token

    def effective_max_size(self, settings: Settings) -> int:
        """The smaller of the host's limit and the server's: larger files are refused before being read."""
        return min(self.max_size or settings.max_file_bytes, settings.max_file_bytes)

    def for_python(self, settings: Settings, *, with_token: bool = True) -> dict[str, object]:
        """What the frame's Python reads (``#embed-options``), and (without the token) what ``/api/embed``
        reports."""
        options: dict[str, object] = {
            "id": self.id,
            "lang": self.lang,
            "parallel": self.parallel,
            "accept": str(self.accept),
            "maxSize": self.effective_max_size(settings),
            "multiple": self.multiple,
        }
        if with_token and self.token is not None:
            options["token"] = self.token
        return options


def _bad(option: str, why: str, value: str) -> ApiError:
    return ApiError(E.BAD_EMBED_OPTION, f"{option} {why}, got {value!r}")


def _label(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    if len(value) > MAX_LABEL:
        raise _bad(name, f"must be at most {MAX_LABEL} characters", value[:20] + "…")
    return value.strip() or None


def parse_options(query: Mapping[str, str]) -> EmbedOptions:
    """The embed's options from a query (the element's attributes); ``ApiError(BAD_EMBED_OPTION)`` says what
    is wrong. Unknown parameters are ignored; an unknown ``lang`` means English (a preference, not an
    error)."""
    ident = query.get("id", "")
    if ident and not _ID.match(ident):
        raise _bad("id", "must be 1 to 64 letters, digits, '-' or '_'", ident)
    parallel = None
    if "parallel" in query:
        raw = query["parallel"].strip()
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARALLEL:
            raise _bad("parallel", f"must be a whole number from 1 to {MAX_PARALLEL}", raw)
        parallel = int(raw)
    try:
        accept = Accept.parse(query.get("accept"))
    except BadAccept as exc:
        raise ApiError(E.BAD_EMBED_OPTION, f"accept: {exc}") from None
    max_size = None
    if "max-size" in query:
        raw = query["max-size"].strip()
        if not raw.isdigit() or int(raw) < 1:
            raise _bad("max-size", "must be a positive whole number of bytes", raw)
        max_size = int(raw)
    multiple = query.get("multiple")
    if multiple is not None and multiple.strip().lower() not in _TRUE | _FALSE:
        raise _bad("multiple", "must be present (true) or absent (false)", multiple)
    token = query.get("token", "").strip() or None
    if token is not None and (len(token) > MAX_TOKEN_CHARS or not _TOKEN.match(token)):
        # Not quoted back: it may be a credential pasted in the wrong place.
        raise ApiError(E.BAD_EMBED_OPTION, "token must be a token the application minted, as it gave it")
    return EmbedOptions(
        id=ident,
        lang=pick_lang(query.get("lang")),
        parallel=parallel,
        accept=accept,
        max_size=max_size,
        multiple=multiple is not None and multiple.strip().lower() in _TRUE,
        label_choose=_label(query, "label-choose"),
        label_drop=_label(query, "label-drop"),
        token=token,
    )


def frame_ancestors(cors_origins: tuple[str, ...]) -> str:
    """The CSP directive letting exactly the allowed origins (and our pages) show ``/embed`` in a frame."""
    if "*" in cors_origins:
        return "frame-ancestors *"
    sources = [origin for origin in cors_origins if _ORIGIN.match(origin)]
    return " ".join(["frame-ancestors", "'self'", *sources])


def _json_in_html(value: object) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def render_document(options: EmbedOptions, settings: Settings, template: str) -> str:
    """The frame's document: the template with the texts of ``options.lang`` and the options filled in."""
    texts = STARTUP_TEXTS[options.lang]
    attributes = ""
    if options.multiple:
        attributes += " multiple"
    if not options.accept.any:
        attributes += f' accept="{escape(str(options.accept))}"'
    drop_hint = options.label_drop or (texts.drop_hint if options.multiple else texts.drop_hint_one)
    choose = options.label_choose or (texts.choose if options.multiple else texts.choose_one)
    return Template(template).substitute(
        lang=escape(texts.lang),
        title=escape(texts.title),
        options_json=_json_in_html(options.for_python(settings)),
        input_attributes=attributes,
        drop_hint=escape(drop_hint),
        choose=escape(choose),
        waiting_one=escape(texts.waiting_one),
        waiting_many=escape(texts.waiting_many),
        starting=escape(texts.starting),
    )


def _query(request: web.Request) -> dict[str, str]:
    return {name: request.query[name] for name in request.query}  # the first value of each name


async def embed_js(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        EMBED_JS,
        headers={
            hdrs.CONTENT_TYPE: MIME_TYPES[".js"],
            hdrs.CACHE_CONTROL: REVALIDATE,
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def embed_api(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    options = parse_options(_query(request))
    check_embed_token(request, options.token)  # --auth-secret: a bad or expired token is told now
    response = envelope.ok(
        {
            "maxFileBytes": settings.max_file_bytes,
            "maxChunkBytes": settings.max_chunk_bytes,
            "options": options.for_python(settings, with_token=False),
        }
    )
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


async def embed_document(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    headers = {
        "Content-Security-Policy": frame_ancestors(settings.cors_origins),
        hdrs.CACHE_CONTROL: REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    try:
        options = parse_options(_query(request))
    except ApiError as err:
        body = (
            '<!doctype html><meta charset="utf-8"><title>Bad option</title>'
            f'<p role="alert">{escape(err.msg)}</p>'
        )
        return web.Response(status=err.status, text=body, content_type="text/html", headers=headers)
    if options.token is not None:
        # The token is in this document's URL and text: not kept in any cache (RFC 9111 section 5.2.2.5, "the
        # cache MUST NOT store any part of either the immediate request or the response"), and not sent on as
        # a Referer by the frame's own requests.
        headers |= {hdrs.CACHE_CONTROL: "no-store", "Referrer-Policy": "no-referrer"}
    body = exact_urls(render_document(options, settings, EMBED_HTML.read_text(encoding="utf-8")))
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=headers)


async def frame_asset(request: web.Request) -> web.StreamResponse:
    path: Path = FRAME_ASSETS[request.match_info["name"]]
    return web.FileResponse(
        path,
        headers={
            hdrs.CONTENT_TYPE: MIME_TYPES[path.suffix],
            hdrs.CACHE_CONTROL: REVALIDATE,
            "Cross-Origin-Resource-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
        },
    )


def setup(app: web.Application) -> None:
    """Register ``/embed.js``, ``/embed``, the frame's assets and ``/api/embed`` on ``app``."""
    app.router.add_get("/embed.js", embed_js)
    app.router.add_get("/embed", embed_document)
    app.router.add_get("/embed/{name:" + "|".join(re.escape(n) for n in FRAME_ASSETS) + "}", frame_asset)
    app.router.add_get("/api/embed", embed_api)
