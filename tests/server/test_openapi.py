"""The OpenAPI description (``/api/openapi.json``) checked against the real server by schemathesis: for every
documented operation, generated requests (valid and not) get answers whose status, content type and body
the description allows, never a 5xx it does not name, and the server logs no traceback. Bounded by
``FUZZ_EXAMPLES`` (default 25 per operation) like the fuzz suite. (schemathesis' own pytest plugin does not
run under pytest 9 yet: each operation gets a Hypothesis test here instead.)"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from server.openapi import spec
from tests.support.server_process import ServerProcess

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
OPERATIONS = [f"{method.upper()} {path}" for path, methods in spec()["paths"].items() for method in methods]


@pytest.fixture(scope="module")
def api_schema(shared_server: ServerProcess) -> Any:
    folder = shared_server.data_dir / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.bin").write_bytes(b"x" * 1000)
    return schemathesis.openapi.from_url(shared_server.url + "/api/openapi.json")


def test_the_description_is_what_the_server_serves(api_schema: Any) -> None:
    assert sorted(
        f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()
    ) == sorted(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_server_answers_as_its_description_says(
    api_schema: Any, shared_server: ServerProcess, label: str
) -> None:
    operation = api_schema.find_operation_by_label(label)
    before = len(shared_server.log)

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # Schema-valid is not valid here: a well-formed handshake whose ids are not the file's is refused
        # (422), which is the protocol, so "valid data is accepted" is not a check this API can pass.
        case.call_and_validate(base_url=shared_server.url, excluded_checks=[positive_data_acceptance])

    check()
    assert [line for line in shared_server.log[before:] if "Traceback" in line or " ERROR " in line] == []
