"""Benchmarks side by side with the peers (project issue 5): ``python -m bench [--quick] [--only NAME ...]``.

One module per benchmark, each defining ``BENCHMARK = Benchmark(...)`` (see ``bench.model``); the runner
(``bench.__main__``) discovers them, runs them, and ``bench.report`` writes ``bench-results/<timestamp>.json``
and the tables of ``docs/benchmarks.md``. Shared parts: ``measure`` (CPU, RSS, statistics), ``servers`` (our
server, the tus peer, nginx as processes), ``upload_clients`` (the one Python client that drives both upload
servers), ``profiling`` (py-spy on our server).
"""
