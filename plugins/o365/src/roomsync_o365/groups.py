"""Distribution groups over Microsoft Graph: the group found by its address, one level of members.

``GET /groups?$filter=mail eq '...'`` finds the group (none: the address is a person's, or
unknown), ``GET /groups/{id}/members`` lists its direct members, page after page by
``@odata.nextLink``; a nested group comes back as a ``#microsoft.graph.group`` member, which the
host expands in turn (once per group, so a loop of groups ends). The app needs the application
permission ``GroupMember.Read.All`` (or ``Group.Read.All``, ``Directory.Read.All``) to read
groups, and ``User.Read.All`` (or ``User.ReadBasic.All``) to see the addresses of their user
members: with the first alone Graph answers users with their ``id`` and nothing else.
"""

from __future__ import annotations

from typing import Any

from roomsync.connector.groups import GroupMember
from roomsync.errors import AccessDenied
from roomsync_o365.graph_client import GraphClient, GraphError, path
from roomsync_o365.tokens import TenantTokens

GROUP = "#microsoft.graph.group"
PERSONS = frozenset({"#microsoft.graph.user", "#microsoft.graph.orgContact"})
RIGHTS = (
    "the Microsoft Graph application permissions GroupMember.Read.All (to read groups and their "
    "members) and User.Read.All (to see the addresses of user members), with admin consent"
)


def _quoted(address: str) -> str:
    return "'" + address.replace("'", "''") + "'"  # OData doubles a quote inside a string


def _denied(exc: GraphError, address: str, who: str) -> AccessDenied:
    return AccessDenied(
        f"Graph denied {who} reading the distribution group {address} ({exc.response.describe()}); "
        f"it needs {RIGHTS}"
    )


def group_members(client: GraphClient, tokens: TenantTokens, address: str) -> list[GroupMember] | None:
    """The direct members of the group whose mail is ``address``; ``None`` when it is no group."""
    address = address.strip().lower()
    try:
        found = client.get(
            tokens,
            path("groups", params={"$filter": f"mail eq {_quoted(address)}", "$select": "id,mail"}),
        )
        rows = found.get("value") or []
        if not rows:
            return None
        members = list(
            client.pages(
                tokens,
                path(
                    "groups",
                    str(rows[0]["id"]),
                    "members",
                    params={"$select": "id,mail,displayName,userPrincipalName"},
                ),
            )
        )
    except GraphError as exc:
        if exc.status == 403:
            raise _denied(exc, address, tokens.who) from None
        if exc.status == 404:
            return None  # removed between the two requests
        raise
    return [member for row in members if (member := _member(row, address)) is not None]


def _member(row: dict[str, Any], group: str) -> GroupMember | None:
    kind = row.get("@odata.type")
    if kind not in PERSONS and kind != GROUP:
        return None  # a device or service principal: nobody to invite
    mail = row.get("mail")
    if not mail:
        if kind == GROUP:
            return None  # a security group without mail: Exchange cannot send to it
        raise AccessDenied(
            f"Graph lists the members of the distribution group {group} without their addresses; "
            f"the app needs {RIGHTS}"
        )
    return GroupMember(address=str(mail), name=str(row.get("displayName") or ""), is_group=kind == GROUP)
