"""Graph's answers as the core's errors: what failed, for whom, and what an administrator does.

Errors that concern the whole mailbox (the app may not use it, the sign-in failed, the mailbox
does not exist) are raised; an error of one item is a failed
:class:`~roomsync.connector.types.WriteResult` of the kind the engine acts on.
"""

from __future__ import annotations

from roomsync.connector.types import WriteErrorKind, WriteResult
from roomsync.errors import AccessDenied, ConnectorError, Fault, TransientConnectorError
from roomsync_o365.graph_client import RETRY_STATUSES, GraphError, GraphResponse

MAILBOX_CODES = frozenset(
    {"errorinvaliduser", "mailboxnotenabledforrestapi", "mailboxnotfound", "errornonexistentmailbox"}
)
STALE_CODES = frozenset({"errorirresolvableconflict", "preconditionfailed", "errorinvalidchangekey"})

RIGHT = (
    "the Microsoft Graph application permission Calendars.ReadWrite with admin consent, and the "
    "mailbox inside the app's access scope (RBAC for Applications: New-ManagementRoleAssignment "
    '-App CLIENT-ID -Role "Application Calendars.ReadWrite" -CustomResourceScope SCOPE; or an '
    "Application Access Policy that includes the mailbox)"
)


class MailboxError(ConnectorError):
    """A failure of the whole call for one mailbox."""


def is_mailbox_level(response: GraphResponse) -> bool:
    code = response.error_code.lower()
    return response.status in (401, 403) or (response.status == 404 and code in MAILBOX_CODES)


def mailbox_error(response: GraphResponse, mailbox: str, who: str, graph_url: str) -> ConnectorError:
    """The error of a Graph answer that concerns the whole mailbox (or the app's sign-in)."""
    detail = response.describe()
    if response.status == 403:
        return AccessDenied(
            f"Graph denied {who} access to the calendar of {mailbox} ({detail}); it needs {RIGHT}"
        )
    if response.status == 401:
        return ConnectorError(
            f"Graph at {graph_url} refused the token of {who} ({detail}); check that graph_url and "
            "login_url belong to the same cloud and that the app registration is enabled",
            fault=Fault.CREDENTIALS,
        )
    if response.status == 404:
        return ConnectorError(
            f"Exchange Online has no mailbox {mailbox} reachable by {who} ({detail})", fault=Fault.MAILBOX
        )
    if response.status in RETRY_STATUSES:
        return TransientConnectorError(
            f"Graph at {graph_url} is throttling or busy for {mailbox} ({detail}), also after waiting"
        )
    return ConnectorError(f"Graph answered for {mailbox}: {detail}")


def from_graph_error(exc: GraphError, mailbox: str, who: str, graph_url: str) -> ConnectorError:
    if exc.status == 0:
        return TransientConnectorError(
            f"{exc}; check graph_url, the network path and the TLS settings (verify_tls, ca_file)",
            fault=Fault.TLS if exc.tls else Fault.SERVER,
        )
    return mailbox_error(exc.response, mailbox, who, graph_url)


def write_failure(response: GraphResponse, item_id: str | None = None) -> WriteResult:
    """The failed result of one item of a batched write."""
    code = response.error_code.lower()
    if response.status == 404:
        kind = WriteErrorKind.NOT_FOUND
    elif response.status in (409, 412) or code in STALE_CODES:
        kind = WriteErrorKind.STALE
    elif response.status == 403:
        kind = WriteErrorKind.DENIED
    elif response.status in RETRY_STATUSES or response.status >= 500:
        kind = WriteErrorKind.TRANSIENT
    else:
        kind = WriteErrorKind.INVALID
    return WriteResult.failure(kind, f"Graph answered {response.describe()}", item_id=item_id)
