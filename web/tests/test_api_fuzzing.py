"""The API against inputs made from its own OpenAPI document (schemathesis, on hypothesis).

Whatever a caller sends (any string in a path, any JSON a body's schema admits or not), the
answer is never a server error: a 4xx names what is wrong, and a 2xx matches the documented
shape. The operations that ask Exchange on every call (sync, sync test, differences) are left
to the tests that exercise them with real data. The examples are the same in every run (a
suite that fails by chance is not one people trust); explore with ``--hypothesis-seed`` after
removing ``derandomize``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from support import Installation, installation


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("fuzz")) as found:
        found.serve()
        yield found


SKIPPED = re.compile(r"/(sync|test)$|/differences")


def test_no_input_makes_the_api_fail(fuzzed: Installation) -> None:
    api = schemathesis.openapi.from_url(f"{fuzzed.url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed.key('admin')}"}
    operations = [result.ok() for result in api.get_all_operations()]
    tried = [op for op in operations if not SKIPPED.search(op.path)]
    assert len(tried) >= 9

    for operation in tried:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def answers_without_failing(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        answers_without_failing()
