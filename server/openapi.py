"""The server's HTTP API as an OpenAPI 3.1 description, served at ``GET /api/openapi.json``.

Built from the code's own facts (the error catalogue's names, the id grammar and the limits), so it cannot
drift from them; ``tests/server/test_openapi.py`` runs schemathesis against the real server with it (every
documented operation, generated requests, answers checked against the statuses and schemas below).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.errors import E
from wire.ids import CHUNK_ID_PATTERN, FILE_ID_PATTERN
from wire.names import MAX_EXT_CHARS, MAX_NAME_CHARS

FILE_ID = {"type": "string", "pattern": f"^{FILE_ID_PATTERN}$", "description": "the whole file's MD5, hex"}
CHUNK_ID = {
    "type": "string",
    "pattern": f"^{CHUNK_ID_PATTERN}$",
    "description": "the chunk's MD5 (hex) followed by its index, as SparkMD5 gives it",
}


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    """The seed's success envelope ``{code: 0, msg, data}``."""
    return {
        "type": "object",
        "required": ["code", "msg", "data"],
        "properties": {"code": {"const": 0}, "msg": {"type": "string"}, "data": data},
    }


ERROR = {
    "type": "object",
    "required": ["code", "msg", "data", "error"],
    "properties": {
        "code": {"type": "integer", "minimum": 400, "maximum": 599, "description": "the HTTP status"},
        "msg": {"type": "string", "description": "what is wrong, for people"},
        "data": {"description": "null, or chunk ids (CHUNK_MISMATCH: still needed; CHUNKS_DAMAGED: damaged)"},
        "error": {"enum": [kind.name for kind in E], "description": "the stable name, for programs"},
    },
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": ", ".join(kind.name for kind in E if kind.status == status) or "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status in statuses
    }


# Every API request can meet these: a Host the server does not answer for, a full disk, too many connections.
COMMON = (421, 503, 507)
FILE_BODY = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
CONDITIONAL_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in ("Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
]
# RFC 9530 section 4: which digests the answer carries (Content-Digest, Repr-Digest); ignored when invalid.
DIGEST_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in ("Want-Content-Digest", "Want-Repr-Digest")
]


def _served(summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """GET and HEAD of a resumable file (RFC 9110: ranges, validators)."""
    responses = {
        "200": {"description": "the whole file", "content": FILE_BODY},
        "206": {"description": "the requested range(s); several: multipart/byteranges", "content": FILE_BODY},
        "304": {"description": "not modified"},
        **_errors(400, 404, 408, 412, 416, *COMMON),
    }
    operation = {
        "summary": summary,
        "parameters": parameters + CONDITIONAL_HEADERS + DIGEST_HEADERS,
        "responses": responses,
    }
    return {"get": operation, "head": {**operation, "summary": summary + " (headers only)"}}


def spec() -> dict[str, Any]:
    handshake = {
        "type": "object",
        "required": ["fileId", "chunkIds"],
        "properties": {
            "fileId": FILE_ID,
            "ext": {
                "type": "string",
                "maxLength": MAX_EXT_CHARS,
                "description": "'' or '.' + a short suffix",
            },
            "chunkIds": {"type": "array", "items": CHUNK_ID},
            "name": {"type": "string", "maxLength": MAX_NAME_CHARS, "description": "the original file name"},
            "size": {"type": "integer", "minimum": 0, "description": "the file's size in bytes"},
        },
    }
    # wire.needed_ranges: the compact answer a client asks for with ?answer=ranges
    answer = {
        "name": "answer",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["ranges"]},
        "description": "ranges: answer the chunks still needed as {needed, ranges} of chunk indexes "
        "(half-open [start, end)) instead of the list of ids",
    }
    compact = {
        "type": "object",
        "required": ["needed", "ranges"],
        "properties": {
            "needed": {"type": "integer", "minimum": 0},
            "ranges": {
                "type": "array",
                "items": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Resumable file transfer",
            "version": "1",
            "description": "The seed's chunked-upload protocol (handshake, chunks) and resumable downloads.",
        },
        "paths": {
            "/api/upload/handshake": {
                "post": {
                    "summary": "Start or resume an upload: the chunk ids still needed, or the file's URL",
                    "parameters": [answer],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Handshake"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the stored file's URL, or the chunk ids still needed in file order",
                            "content": {
                                "application/json": {
                                    "schema": _envelope(
                                        {
                                            "oneOf": [
                                                {"type": "string"},
                                                {"type": "array", "items": CHUNK_ID},
                                                compact,
                                            ]
                                        }
                                    )
                                }
                            },
                        },
                        **_errors(400, 403, 408, 409, 413, 422, 429, *COMMON),
                    },
                }
            },
            "/api/upload": {
                "post": {
                    "summary": "One chunk: its bytes (file), chunkId and fileId, in any order",
                    "parameters": [answer],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file", "chunkId", "fileId"],
                                    "properties": {
                                        "file": {"type": "string", "format": "binary"},
                                        "chunkId": CHUNK_ID,
                                        "fileId": FILE_ID,
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the chunk ids still needed; [] once the file is assembled and verified",
                            "content": {
                                "application/json": {
                                    "schema": _envelope(
                                        {"oneOf": [{"type": "array", "items": CHUNK_ID}, compact]}
                                    )
                                }
                            },
                        },
                        **_errors(400, 403, 404, 408, 409, 413, 422, *COMMON),
                    },
                }
            },
            "/api/files": {
                "get": {
                    "summary": "The files of the downloads folder",
                    "responses": {
                        "200": {
                            "description": "one entry per file",
                            "content": {
                                "application/json": {
                                    "schema": _envelope(
                                        {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/ListedFile"},
                                        }
                                    )
                                }
                            },
                        },
                        **_errors(*COMMON),
                    },
                }
            },
            "/api/page": {
                "get": {
                    "summary": "What the page's Python needs of this server's settings (server/page.py)",
                    "responses": {
                        "200": {
                            "description": "how long an unfinished upload is kept, in seconds: the page "
                            "remembers a file's chunk plan as long",
                            "content": {
                                "application/json": {
                                    "schema": _envelope(
                                        {
                                            "type": "object",
                                            "required": ["uploadTtlSeconds"],
                                            "properties": {
                                                "uploadTtlSeconds": {"type": "number", "exclusiveMinimum": 0}
                                            },
                                        }
                                    )
                                }
                            },
                        },
                        **_errors(*COMMON),
                    },
                }
            },
            "/upload/{tail}": _served(
                "An uploaded file, offered under ?name= (else <fileId><ext>)",
                [
                    {"name": "tail", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "name", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
            ),
            "/download/{name}": _served(
                "A file of the downloads folder",
                [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            ),
            "/healthz": {
                "get": {
                    "summary": "200 while the storage answers and the disk keeps its margin",
                    "responses": {
                        "200": {
                            "description": "healthy",
                            "content": {"application/json": {"schema": _envelope({})}},
                        },
                        **_errors(*COMMON),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text format",
                    "responses": {
                        "200": {
                            "description": "metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(421),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Handshake": handshake,
                "Error": ERROR,
                "ListedFile": {
                    "type": "object",
                    "required": ["name", "size", "etag", "lastModified", "url"],
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"type": "integer", "minimum": 0},
                        "etag": {"type": "string"},
                        "lastModified": {"type": "string"},
                        "url": {"type": "string"},
                    },
                },
            }
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[SPEC])


SPEC = web.AppKey("openapi", dict)


def setup(app: web.Application) -> None:
    app[SPEC] = spec()
    app.router.add_get("/api/openapi.json", openapi)
