"""Pure HTTP rules, free of I/O and of aiohttp: each module turns header values into decisions.

- ``ranges``: the ``Range`` header (RFC 9110 section 14) -> the byte ranges to send, or "ignore", or 416.
- ``conditionals``: validators and ``If-*`` preconditions (RFC 9110 sections 8.8 and 13) -> 200/206, 304, 412.
- ``multipart``: the ``multipart/byteranges`` framing of a several-range answer (RFC 9110 section 14.6).
- ``content_disposition``: ``Content-Disposition: attachment`` with RFC 8187 names (RFC 6266).
- ``dates``: HTTP-date parsing and formatting (RFC 9110 section 5.6.7).
- ``digests``: ``Want-Content-Digest`` / ``Want-Repr-Digest`` -> the algorithm to answer with;
  ``Content-Digest`` / ``Repr-Digest`` values (RFC 9530, over RFC 9651 Structured Fields).
"""
