"""Fixtures of the simulator's tests: a running simulator per dialect (see sim_support).

Every simulator here validates each request and response against its dialect's schema set;
a test fails at teardown if the simulator wrote an invalid response, or if it refused a request
as invalid that the test did not expect to be refused.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib.protocol import BaseProtocol, CachingProtocol

from roomsync_sim.testing import running_simulator
from sim_support import DIALECTS, SEED, Org


@pytest.fixture(params=DIALECTS)
def org(request: pytest.FixtureRequest) -> Iterator[Org]:
    with running_simulator(request.param, SEED, validate=True) as running:
        o = Org(running, request.param)
        try:
            yield o
        finally:
            o.close()
        responses = [v for v in running.simulator.violations if v.direction == "response"]
        requests = [v for v in running.simulator.violations if v.direction == "request"]
        assert not responses, f"schema-invalid responses: {responses}"
        assert len(requests) <= o.expected_refusals, f"requests refused as schema-invalid: {requests}"


@pytest.fixture(autouse=True)
def _restore_adapter() -> Iterator[None]:
    adapter = BaseProtocol.HTTP_ADAPTER_CLS
    yield
    BaseProtocol.HTTP_ADAPTER_CLS = adapter


@pytest.fixture(autouse=True)
def _forget_protocols() -> Iterator[None]:
    """exchangelib caches a protocol (version, auth type) per endpoint and credentials; a later
    simulator on a reused port would otherwise inherit another dialect's or scheme's protocol."""
    yield
    CachingProtocol.clear_cache()
