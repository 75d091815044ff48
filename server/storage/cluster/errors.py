"""The one error the cluster backend raises when a service it depends on cannot be reached.

PostgreSQL or S3 refusing connections, dropping them, still starting up, or not answering in time is a
condition of the deployment, not a bug and not the client's fault: the request may succeed once the service
is back. Every such failure is raised as ``DependencyUnavailable`` (the original error chained as
``__cause__``) so one place maps it to an answer (503 with this message).
"""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """``dependency`` ("PostgreSQL", "S3") cannot be used now; ``detail`` says how it failed."""

    def __init__(self, dependency: str, detail: str) -> None:
        self.dependency = dependency
        self.detail = detail
        super().__init__(f"{dependency} is unavailable ({detail}); try again soon")
