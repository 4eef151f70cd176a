"""Change notifications (webhooks): ``/subscriptions`` and their delivery.

Creating a subscription to a user's events (``/users/{id}/events`` or ``.../calendar/events``)
first validates the notification URL (and the lifecycle URL) the way Graph does: a POST to
``{url}?validationToken=...`` that must answer 200 with the token as its text/plain body within
10 seconds (400 ``ValidationError`` otherwise). The expiration may be at most 10080 minutes ahead
(400 ``ExtensionError`` beyond; a value under 45 minutes is raised to 45 minutes). Every change
to an event of the mailbox (created, updated, deleted; a move to Deleted Items counts as
deleted) is then POSTed as a ``changeNotificationCollection`` with the subscription's
``clientState``; a failed delivery is retried (after 1, 2, 4, ... "minutes", the simulator's
``minute_seconds``) for up to 4 hours, then dropped with a ``missed`` lifecycle notification.
Lifecycle notifications (``reauthorizationRequired`` when the token that authorized the
subscription expires, ``subscriptionRemoved``, ``missed``) go to ``lifecycleNotificationUrl``.
Callback URLs must be HTTPS, as Graph requires: an ``http`` ``notificationUrl`` (or
``lifecycleNotificationUrl``) is refused with 400 ``InvalidRequest`` "NotificationUrl
scheme='http' is not supported.". Tests that receive notifications on plain-http loopback turn on
``allow_http_notification_url`` (a seed/tenant key, ``allow_http_notification_url = true``, or
``GraphService.subscriptions.allow_http_notification_url = True`` on a running simulator); even
then http is accepted on loopback only. Hosts beyond loopback need ``allow_remote_callbacks``.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import secrets
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from roomsync_sim.graph import ids, timefmt
from roomsync_sim.graph.errors import GraphError, bad_request
from roomsync_sim.graph.router import Router
from roomsync_sim.graph.serialize import etag
from roomsync_sim.graph.service import Call, Reply
from roomsync_sim.graph.tenants import Tenant
from roomsync_sim.store import StoreEvent

if TYPE_CHECKING:
    from roomsync_sim.graph.service import GraphService

log = logging.getLogger("roomsync_sim.graph.subscriptions")

# https://learn.microsoft.com/en-us/graph/change-notifications-overview#subscription-lifetime
# (the table the subscription resource type page includes): "Outlook message, event, personal
# contact: 10,080 minutes (under 7 days)"; older revisions said 4,230 minutes. The simulator has
# no rich notifications (includeResourceData), whose 1,440-minute limit therefore never applies.
MAX_MINUTES = 10080
MIN_MINUTES = 45
VALIDATION_TIMEOUT = 10.0
DELIVERY_TIMEOUT = 3.0
GIVE_UP_MINUTES = 240
CHANGE_TYPES = {"created", "updated", "deleted"}


@dataclass(eq=False)
class Subscription:
    id: str
    tenant: Tenant
    client_id: str
    smtp: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    authorized_until: float  # when the token that authorized it expires (time.time())
    tls: str = "v1_2"
    reauthorization_sent: bool = False

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.client_id,
            "changeType": ",".join(sorted(self.change_types, key=["created", "updated", "deleted"].index)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": timefmt.stamp(self.expires),
            "creatorId": self.tenant.service_principal_id(self.client_id),
            "includeResourceData": False,
            "latestSupportedTlsVersion": self.tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass
class Delivery:
    url: str
    payload: dict[str, Any]
    subscription: Subscription
    lifecycle: bool = False
    first_try: float = field(default_factory=time.monotonic)
    next_try: float = 0.0
    delay_minutes: float = 1.0


class Subscriptions:
    """Subscriptions of every tenant, and the worker that delivers their notifications."""

    def __init__(self, service: GraphService) -> None:
        self.service = service
        self.cond = threading.Condition()
        self.items: dict[str, Subscription] = {}
        self.queue: deque[Delivery] = deque()
        self.log: deque[dict[str, Any]] = deque(maxlen=200)
        self.max_minutes = MAX_MINUTES
        # test switch: accept http:// callback URLs on loopback in every tenant (see the module)
        self.allow_http_notification_url = False
        self.callback_ca_file: str | None = None
        self.closed = False
        self._thread: threading.Thread | None = None

    @property
    def minute_seconds(self) -> float:
        return float(self.service.simulator.notifier.minute_seconds)

    def clear(self) -> None:
        with self.cond:
            self.items.clear()
            self.queue.clear()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        with self.cond:
            return {"count": len(self.items), "queued": len(self.queue), "deliveries": list(self.log)[-50:]}

    # --- store events -----------------------------------------------------------------------------

    def listener(self, tenant: Tenant) -> Callable[[StoreEvent], None]:
        def on_event(event: StoreEvent) -> None:
            if event.is_folder or not self.items:
                return
            changes: list[tuple[str, str]] = []
            calendar = "calendar"
            if event.kind == "Moved":
                if event.old_parent is not None and event.old_parent.distinguished == calendar:
                    changes.append(("deleted", event.old_id or ""))
                if event.parent is not None and event.parent.distinguished == calendar:
                    changes.append(("created", event.object_id))
            elif event.parent is not None and event.parent.distinguished == calendar:
                kind = {"Created": "created", "Modified": "updated", "Deleted": "deleted"}.get(event.kind)
                if kind:
                    changes.append((kind, event.object_id))
            for change_type, ews_id in changes:
                self._notify(tenant, event, change_type, ids.rest_id(ews_id))

        return on_event

    def _notify(self, tenant: Tenant, event: StoreEvent, change_type: str, event_id: str) -> None:
        now = datetime.now(UTC)
        with self.cond:
            for sub in list(self.items.values()):
                if sub.expires <= now:
                    del self.items[sub.id]
                    continue
                if (
                    sub.tenant is not tenant
                    or sub.smtp != event.mailbox
                    or change_type not in sub.change_types
                ):
                    continue
                user_id = tenant.user_id(sub.smtp)
                resource = f"Users/{user_id}/Events/{event_id}"
                payload = {
                    "value": [
                        {
                            "subscriptionId": sub.id,
                            "subscriptionExpirationDateTime": timefmt.stamp(sub.expires),
                            "changeType": change_type,
                            "resource": resource,
                            "resourceData": {
                                "@odata.type": "#Microsoft.Graph.Event",
                                "@odata.id": resource,
                                "@odata.etag": etag(event.change_key),
                                "id": event_id,
                            },
                            "clientState": sub.client_state,
                            "tenantId": tenant.id,
                        }
                    ]
                }
                self.queue.append(Delivery(sub.notification_url, payload, sub))
            self._start()
            self.cond.notify_all()

    def lifecycle(self, sub_id: str, event: str, remove: bool | None = None) -> None:
        """Send a lifecycle notification (``reauthorizationRequired``, ``subscriptionRemoved``,
        ``missed``); ``subscriptionRemoved`` also ends the subscription (a test switch too)."""
        with self.cond:
            sub = self.items.get(sub_id)
            if sub is None:
                raise KeyError(sub_id)
            if remove or (remove is None and event == "subscriptionRemoved"):
                del self.items[sub_id]
            self._lifecycle(sub, event)
            self._start()
            self.cond.notify_all()

    def _lifecycle(self, sub: Subscription, event: str) -> None:
        if not sub.lifecycle_url:
            return
        payload = {
            "value": [
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": timefmt.stamp(sub.expires),
                    "tenantId": sub.tenant.id,
                    "clientState": sub.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        self.queue.append(Delivery(sub.lifecycle_url, payload, sub, lifecycle=True))

    def expire(self, sub_id: str) -> None:
        """Test switch: the subscription expires now (Graph deletes expired subscriptions)."""
        with self.cond:
            self.items.pop(sub_id, None)

    # --- delivery -----------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="roomsync-sim-graph-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self.cond:
                if self.closed:
                    return
                now = time.monotonic()
                self._check_authorizations()
                ready = next((d for d in self.queue if d.next_try <= now), None)
                if ready is None:
                    waits = [d.next_try - now for d in self.queue] + [0.5]
                    self.cond.wait(timeout=max(0.01, min(waits)))
                    continue
                self.queue.remove(ready)
            ok, status = _post(ready.url, ready.payload, DELIVERY_TIMEOUT, self.callback_ca_file)
            with self.cond:
                self.log.append(
                    {
                        "url": ready.url,
                        "subscription": ready.subscription.id,
                        "kind": "lifecycle" if ready.lifecycle else "change",
                        "status": status,
                    }
                )
                if ok:
                    continue
                spent = (time.monotonic() - ready.first_try) / self.minute_seconds
                if spent >= GIVE_UP_MINUTES or ready.lifecycle:
                    if not ready.lifecycle and ready.subscription.id in self.items:
                        self._lifecycle(ready.subscription, "missed")
                    continue
                ready.next_try = time.monotonic() + ready.delay_minutes * self.minute_seconds
                ready.delay_minutes *= 2
                self.queue.append(ready)

    def _check_authorizations(self) -> None:
        now = time.time()
        for sub in self.items.values():
            if not sub.reauthorization_sent and sub.authorized_until <= now:
                sub.reauthorization_sent = True
                self._lifecycle(sub, "reauthorizationRequired")

    # --- validation ---------------------------------------------------------------------------------

    def check_scheme(self, url: str, name: str, tenant: Tenant) -> None:
        """Refuse a URL that is not https (unless the test switch allows http on loopback)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        loopback = host == "localhost" or _is_loopback(host)
        allow_http = self.allow_http_notification_url or tenant.allow_http_notification_url
        if parts.scheme == "http" and not (allow_http and loopback):
            # https://learn.microsoft.com/en-us/graph/api/resources/subscription: notificationUrl
            # and lifecycleNotificationUrl "must make use of the HTTPS protocol"; Graph answers
            # 400 InvalidRequest "NotificationUrl scheme='http' is not supported."
            label = name[0].upper() + name[1:]
            raise bad_request(f"{label} scheme='http' is not supported.", "InvalidRequest")
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise bad_request(f"The {name} must be an HTTPS URL.", "ValidationError")

    def check_url(self, url: str, name: str, tenant: Tenant) -> None:
        """Check the scheme, then validate the URL as Graph does (a POST with a token)."""
        self.check_scheme(url, name, tenant)
        parts = urlsplit(url)
        host = parts.hostname or ""
        loopback = host == "localhost" or _is_loopback(host)
        if not loopback and not self.service.simulator.notifier.allow_remote_callbacks:
            raise bad_request(
                f"The {name} {url} is beyond loopback; the simulator delivers there only with "
                "allow_remote_callbacks.",
                "ValidationError",
            )
        token = secrets.token_urlsafe(24)
        separator = "&" if parts.query else "?"
        target = f"{url}{separator}validationToken={quote(token)}"
        ok, status, text = _request(
            target, b"", "text/plain; charset=utf-8", VALIDATION_TIMEOUT, self.callback_ca_file
        )
        if not ok or status != 200 or text != token:
            raise bad_request(
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                "validation request.",
                "ValidationError",
            )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request(
    url: str, body: bytes, content_type: str, timeout: float, ca_file: str | None
) -> tuple[bool, int, str]:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn: http.client.HTTPConnection
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=ca_file)
            conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port or 443, timeout=timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
        conn.request("POST", path, body, {"Content-Type": content_type})
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        conn.close()
        return 200 <= response.status < 300, response.status, text
    except (TimeoutError, OSError, http.client.HTTPException) as e:
        log.debug("callback %s failed: %s", url, e)
        return False, 0, ""


def _post(url: str, payload: dict[str, Any], timeout: float, ca_file: str | None) -> tuple[bool, int]:
    ok, status, _ = _request(
        url, json.dumps(payload).encode(), "application/json; charset=utf-8", timeout, ca_file
    )
    return ok, status


# --- handlers ------------------------------------------------------------------------------------------


def _expiry(call: Call, value: Any, operation: str) -> datetime:
    if not isinstance(value, str):
        raise bad_request("expirationDateTime is required.", "InvalidRequest")
    when = timefmt.parse_local(value, UTC)
    now = datetime.now(UTC)
    limit = call.service.subscriptions.max_minutes
    if when - now > timedelta(minutes=limit, seconds=5):
        raise GraphError(
            400,
            "ExtensionError",
            f"Operation: {operation}; Exception: [Status Code: BadRequest; Reason: "
            "Subscription expiration can only "
            f"be {limit} minutes in the future.]",
        )
    return max(when, now + timedelta(minutes=MIN_MINUTES))


def _resource_user(call: Call, resource: str) -> str:
    parts = [p for p in resource.split("?")[0].strip("/").split("/") if p]
    lowered = [p.lower() for p in parts]
    if (
        len(parts) >= 3
        and lowered[0] == "users"
        and (lowered[2:] == ["events"] or lowered[2:] == ["calendar", "events"])
    ):
        smtp = call.tenant.resolve_user(parts[1])
        if smtp is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{parts[1]}' is invalid.")
        return smtp
    raise bad_request(f"The resource '{resource}' is not supported for subscriptions.", "InvalidRequest")


def create(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else None
    if body is None:
        raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
    change_types = frozenset(c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip())
    if not change_types or change_types - CHANGE_TYPES:
        raise bad_request("changeType must be created, updated and/or deleted.", "InvalidRequest")
    url = str(body.get("notificationUrl") or "")
    resource = str(body.get("resource") or "")
    client_state = body.get("clientState")
    if client_state is not None and len(str(client_state)) > 128:
        raise bad_request("clientState may be at most 128 characters.", "InvalidRequest")
    smtp = _resource_user(call, resource)
    call.service.authorize(call.principal, smtp, write=False)
    expires = _expiry(call, body.get("expirationDateTime"), "Create")
    subs = call.service.subscriptions
    lifecycle = body.get("lifecycleNotificationUrl")
    subs.check_scheme(url, "notificationUrl", call.tenant)
    if lifecycle:
        subs.check_scheme(str(lifecycle), "lifecycleNotificationUrl", call.tenant)
    subs.check_url(url, "notificationUrl", call.tenant)
    if lifecycle:
        subs.check_url(str(lifecycle), "lifecycleNotificationUrl", call.tenant)
    sub = Subscription(
        id=str(uuid.uuid4()),
        tenant=call.tenant,
        client_id=call.app.client_id,
        smtp=smtp,
        resource=resource,
        change_types=change_types,
        notification_url=url,
        lifecycle_url=str(lifecycle) if lifecycle else None,
        client_state=str(client_state) if client_state is not None else None,
        expires=expires,
        authorized_until=call.principal.expires,
        tls=str(body.get("latestSupportedTlsVersion") or "v1_2"),
    )
    with subs.cond:
        subs.items[sub.id] = sub
        subs._start()
    return Reply(201, {"@odata.context": f"{call.base}/$metadata#subscriptions/$entity", **sub.json()})


def _own(call: Call) -> Subscription:
    subs = call.service.subscriptions
    with subs.cond:
        sub = subs.items.get(call.params["sub"])
        if sub is not None and sub.expires <= datetime.now(UTC):
            subs.items.pop(sub.id, None)
            sub = None
    if sub is None or sub.tenant is not call.tenant or sub.client_id != call.app.client_id:
        raise GraphError(404, "ResourceNotFound", "The object was not found.")
    return sub


def get(call: Call) -> Reply:
    sub = _own(call)
    return Reply(200, {"@odata.context": f"{call.base}/$metadata#subscriptions/$entity", **sub.json()})


def list_(call: Call) -> Reply:
    subs = call.service.subscriptions
    now = datetime.now(UTC)
    with subs.cond:
        mine = [
            s.json()
            for s in subs.items.values()
            if s.tenant is call.tenant and s.client_id == call.app.client_id and s.expires > now
        ]
    return Reply(200, {"@odata.context": f"{call.base}/$metadata#subscriptions", "value": mine})


def update(call: Call) -> Reply:
    sub = _own(call)
    body = call.body if isinstance(call.body, dict) else {}
    if "notificationUrl" in body:
        call.service.subscriptions.check_url(str(body["notificationUrl"]), "notificationUrl", call.tenant)
    if "expirationDateTime" in body:
        sub.expires = _expiry(call, body["expirationDateTime"], "Update")
    if "notificationUrl" in body:
        sub.notification_url = str(body["notificationUrl"])
    sub.authorized_until = max(sub.authorized_until, call.principal.expires)
    sub.reauthorization_sent = False
    return Reply(200, {"@odata.context": f"{call.base}/$metadata#subscriptions/$entity", **sub.json()})


def delete(call: Call) -> Reply:
    sub = _own(call)
    subs = call.service.subscriptions
    with subs.cond:
        subs.items.pop(sub.id, None)
    return Reply(204)


def reauthorize(call: Call) -> Reply:
    sub = _own(call)
    sub.authorized_until = call.principal.expires
    sub.reauthorization_sent = False
    return Reply(204)


def register(router: Router) -> None:
    flags = {"mailbox": False, "locked": False}
    router.add("POST", "/subscriptions", "subscriptions.create", create, **flags)
    router.add("GET", "/subscriptions", "subscriptions.list", list_, **flags)
    router.add(
        "POST", "/subscriptions/(?P<sub>[^/]+)/reauthorize", "subscriptions.reauthorize", reauthorize, **flags
    )
    router.add("GET", "/subscriptions/(?P<sub>[^/]+)", "subscriptions.get", get, **flags)
    router.add("PATCH", "/subscriptions/(?P<sub>[^/]+)", "subscriptions.update", update, **flags)
    router.add("DELETE", "/subscriptions/(?P<sub>[^/]+)", "subscriptions.delete", delete, **flags)
