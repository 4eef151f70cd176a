"""Every error names the kind of fault it is, which decides who hears of it."""

from __future__ import annotations

import pytest

from roomsync.errors import (
    AccessDenied,
    ConfigError,
    ConnectorError,
    Fault,
    MassDeletionRefused,
    PersonNotAssigned,
    PluginNotInstalled,
    TransientConnectorError,
    UnknownEnvironment,
    fault_of,
)


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (ConfigError("must be a number", key="sync.interval_seconds"), Fault.CONFIGURATION),
        (PluginNotInstalled("exchange2013", "onprem", []), Fault.PLUGIN),
        (UnknownEnvironment("lab", ["onprem"]), Fault.ENVIRONMENT),
        (PersonNotAssigned("ada@example.org"), Fault.ENVIRONMENT),
        (AccessDenied("it needs ApplicationImpersonation"), Fault.PERMISSION),
        (ConnectorError("the server answered ErrorInternalServerError"), Fault.SERVER),
        (TransientConnectorError("the server is busy"), Fault.SERVER),
        (MassDeletionRefused("12 of 14 entries deleted"), Fault.SAFETY),
        (RuntimeError("a defect"), Fault.INTERNAL),
    ],
)
def test_each_error_has_its_kind(error: BaseException, fault: Fault) -> None:
    assert fault_of(error) is fault


def test_a_connector_names_the_kind_it_knows() -> None:
    refused = ConnectorError("the server refused the logon", fault=Fault.CREDENTIALS)
    untrusted = TransientConnectorError("the certificate is not trusted", fault=Fault.TLS)

    assert fault_of(refused) is Fault.CREDENTIALS and not refused.transient
    assert fault_of(untrusted) is Fault.TLS and untrusted.transient
    assert str(refused) == "the server refused the logon"
    assert fault_of(ConnectorError("other")) is Fault.SERVER  # the kind is the error's own


def test_faults_of_a_whole_environment() -> None:
    wide = {fault for fault in Fault if fault.environment_wide}
    assert wide == {Fault.CONFIGURATION, Fault.CREDENTIALS, Fault.TLS, Fault.SERVER, Fault.PLUGIN}
