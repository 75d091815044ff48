"""A streaming reader for the seed's chunk form (RFC 7578 multipart/form-data), built on python-multipart.

aiohttp's own multipart reader costs about 2 s of CPU per GiB in Python-level buffering and header parsing;
python-multipart's parser finds boundaries with ``bytes.find`` over whole network reads and costs ~0.3 s/GiB.
``FormParser`` is pure (feed bytes, get events); the handler does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from server.errors import ApiError, E

MAX_HEADER_BYTES = 8 * 1024


@dataclass(frozen=True)
class PartStart:
    name: str
    is_file: bool


@dataclass(frozen=True)
class PartData:
    data: memoryview


@dataclass(frozen=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a ``multipart/form-data`` Content-Type, or a BAD_FORM error."""
    if not content_type.isascii():  # RFC 2046 section 5.1.1: a boundary is made of ASCII "bchars"
        raise ApiError(E.BAD_FORM, "the Content-Type holds characters that are not ASCII; a boundary cannot")
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise ApiError(E.BAD_FORM, f"expected a multipart/form-data body, got {kind.decode('latin-1')!r}")
    boundary = params.get(b"boundary", b"")
    # RFC 2046 section 5.1.1: boundary := 0*69<bchars> bcharsnospace
    if not 1 <= len(boundary) <= 70:
        raise ApiError(E.BAD_FORM, "the multipart Content-Type has no valid boundary parameter")
    return boundary


class FormParser:
    """Feed the body as it arrives; each ``feed`` returns the events it completed, in order."""

    def __init__(self, boundary: bytes) -> None:
        self._events: list[Event] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self.complete = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(PartEnd()),
                "on_end": self._on_end,
            },
            max_header_size=MAX_HEADER_BYTES,
        )

    def feed(self, data: bytes) -> list[Event]:
        try:
            self._parser.write(data)
        except (MultipartParseError, ValueError) as exc:
            raise ApiError(E.BAD_FORM, f"the multipart form could not be read: {exc}") from None
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """The body ended: it must have ended with the closing boundary."""
        if not self.complete:
            raise ApiError(E.INCOMPLETE_BODY, "the multipart body ended before its closing boundary")

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        # RFC 7578 section 4.2: each part has a Content-Disposition of type form-data with a name parameter.
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise ApiError(E.BAD_FORM, "a form part has no Content-Disposition: form-data with a name")
        name = params[b"name"].decode("utf-8", "replace")
        self._events.append(PartStart(name, b"filename" in params))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(PartData(memoryview(data)[start:end]))

    def _on_end(self) -> None:
        self.complete = True
