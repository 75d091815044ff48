"""How many chunk requests an upload keeps in flight: enough to cover the link's bandwidth-delay product.

A chunk request takes the link's latency ``L`` (the request's way there and the answer's way back, plus the
server's time) on top of its bytes' transfer. While one request waits out its latency the link is idle
unless others are sending, so a link of bandwidth ``B`` stays busy only with about ``1 + L x B / S`` requests
of ``S`` bytes in flight: at 80 ms and 40 Mbit/s that is 1.4 (3 in flight are plenty), at 200 ms and
100 Mbit/s 3.4 (2.5 MB in flight: 3 are not enough).

Both are measured, not configured:

- ``L``: the handshake's time (a small request: nearly all latency); until one was timed, the first chunk's
  (an upper bound).
- ``B``: from a chunk request's time ``T`` with ``k`` requests in flight: the part of ``T`` beyond the
  latency is the chunk's transfer, at worst sharing the link with the ``k - 1`` others all along, so
  ``B >= k x S / (T - L)``; and never less than the goodput measured. When requests interleave better than
  that (one waits while others send) this overestimates ``B``, which costs at most ``max_parallel``
  connections; underestimating it would leave the link idle. It is read only after a whole first wave of
  chunks was answered, then after every chunk.

The result is ``ceil(1 + L x B / S) + 1`` (one spare for jitter), but ``max_parallel`` as soon as the
latency is worth a quarter of a chunk's transfer (``L x B >= S / 4``, ``SPREAD``): measured with Chromium's
emulation (``bench/wan_upload.py``), the page's and the server's own turnaround per request adds to the
link's latency, so at 80 ms / 40 Mbit/s 6 in flight reached 0.96x of the link where 3 (what the formula
says) reached 0.92x, and on loopback 6 in flight cost nothing against 3 (77 and 71 MB/s against 80 and
71). It is kept between the configured ``parallel`` (never fewer) and ``max_parallel``; the default
``max_parallel`` is 6, the most HTTP/1.1 connections Chromium opens to one host: more requests would only
queue in the browser (measured: 12 and 16 in flight no better than 6). It only grows within a round of
chunks, so a lane is never cut while it holds a chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SPREAD = 0.25  # a latency worth this many chunks' transfer (L x B / S) or more: all the lanes allowed


@dataclass
class InFlight:
    """The chunk requests to keep in flight, from what the upload has measured so far."""

    least: int  # the configured ``parallel``: never fewer
    most: int  # ``max_parallel``
    chunk_size: int
    latency: float | None = None  # seconds: the shortest request seen
    _answered: int = field(default=0, repr=False)
    _lanes: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.most = max(self.most, self.least)
        self._lanes = self.least

    @property
    def lanes(self) -> int:
        return self._lanes

    def saw_request(self, seconds: float) -> None:
        """A small request (the handshake) took ``seconds``: the latency is at most that."""
        if seconds > 0 and (self.latency is None or seconds < self.latency):
            self.latency = seconds

    def chunk_answered(self, seconds: float, goodput: float | None, in_flight: int) -> None:
        """A chunk request took ``seconds`` with ``in_flight`` requests out (this one included); the upload's
        goodput (bytes/s of confirmed chunks) is ``goodput``."""
        self._answered += 1
        if self.latency is None and seconds > 0:
            self.latency = seconds  # an upper bound: no handshake was timed
        if self.latency is None or self._answered < max(in_flight, self.least):
            return
        transfer = seconds - self.latency
        if transfer <= seconds * 0.02:
            self._lanes = self.most  # all latency, no measurable transfer time: as many as allowed
            return
        bandwidth = max(goodput or 0.0, max(in_flight, 1) * self.chunk_size / transfer)
        product = self.latency * bandwidth / self.chunk_size  # the bandwidth-delay product, in chunks
        wanted = self.most if product >= SPREAD else math.ceil(1 + product) + 1
        self._lanes = max(self._lanes, min(self.most, wanted))
