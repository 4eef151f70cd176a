"""Graph change subscriptions for the watched mailboxes: made, renewed before expiry, remade.

One subscription per mailbox on ``/users/{mailbox}/events`` with a secret ``clientState`` of its
own (kept in memory only, compared by the receiver). A background thread keeps the set of
subscriptions equal to the watched mailboxes, renews each well before it expires, and follows
lifecycle notifications: ``reauthorizationRequired`` renews, ``subscriptionRemoved`` makes a new
subscription, ``missed`` wakes the mailbox. Whenever a mailbox's subscription starts standing
(first made or made again after a gap), the mailbox is woken, so its delta catches up on anything
that happened unwatched. Failures are logged and tried again later: the runner keeps polling.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from roomsync_o365.errors import RIGHT
from roomsync_o365.graph_client import GraphClient, path
from roomsync_o365.mapping import parse_instant
from roomsync_o365.tokens import TenantTokens
from roomsync_o365.webhooks import LIFECYCLE_SUFFIX, NOTIFY_SUFFIX

log = logging.getLogger(__name__)

LIFETIME = timedelta(minutes=4200)
"""Requested lifetime: Graph allows event subscriptions up to 4,230 minutes."""
RENEW_BEFORE = timedelta(hours=12)
RETRY_AFTER = timedelta(minutes=5)
TICK = 60.0
"""Longest sleep of the background thread between looking at expiries."""

Wake = Callable[[list[str]], None]


@dataclass
class Subscription:
    id: str
    mailbox: str
    expires: datetime
    client_state: str = field(repr=False)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SubscriptionManager:
    """Keeps one subscription per watched mailbox; thread-safe."""

    def __init__(
        self,
        client: GraphClient,
        tokens_for: Callable[[str], TenantTokens],
        notification_url: str,
        wake: Wake,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.tokens_for = tokens_for
        self.notify_url = notification_url.rstrip("/") + NOTIFY_SUFFIX
        self.lifecycle_url = notification_url.rstrip("/") + LIFECYCLE_SUFFIX
        self.wake = wake
        self.clock = clock
        self._lock = threading.Lock()
        self._wanted: set[str] = set()
        self._by_mailbox: dict[str, Subscription] = {}
        self._by_id: dict[str, Subscription] = {}
        self._retry_at: dict[str, datetime] = {}
        self.errors: dict[str, str] = {}
        """The last failure per mailbox, for the sync test and logs."""
        self._events: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._nudge = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the connector and the receiver call --------------------------------------------

    def watch(self, mailboxes: Iterable[str]) -> None:
        with self._lock:
            self._wanted = {m.strip().lower() for m in mailboxes}
            for mailbox in set(self._retry_at) - self._wanted:
                del self._retry_at[mailbox]
        self._nudge.set()

    def watched(self) -> dict[str, datetime]:
        """Mailboxes with a standing subscription, and when it expires."""
        with self._lock:
            return {m: s.expires for m, s in self._by_mailbox.items()}

    def client_state(self, subscription_id: str) -> str | None:
        with self._lock:
            found = self._by_id.get(subscription_id)
            return found.client_state if found else None

    def changed(self, subscription_ids: list[str]) -> None:
        with self._lock:
            mailboxes = [self._by_id[s].mailbox for s in subscription_ids if s in self._by_id]
        if mailboxes:
            self.wake(sorted(set(mailboxes)))

    def lifecycle(self, subscription_id: str, event: str) -> None:
        self._events.put((subscription_id, event))
        self._nudge.set()

    # --- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="roomsync-o365-subscriptions", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and delete every subscription (best effort)."""
        self._stopping.set()
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._lock:
            standing = list(self._by_mailbox.values())
            self._by_mailbox.clear()
            self._by_id.clear()
        for subscription in standing:
            self._delete(subscription)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:  # the thread must outlive any one failure
                log.exception("keeping Graph subscriptions failed; trying again shortly")
            self._nudge.wait(TICK)
            self._nudge.clear()

    def step(self) -> None:
        """One round: lifecycle events, then wanted against standing, then renewals."""
        woken: set[str] = set()
        while True:
            try:
                subscription_id, event = self._events.get_nowait()
            except queue.Empty:
                break
            woken |= self._on_lifecycle(subscription_id, event)
        with self._lock:
            wanted = set(self._wanted)
            standing = dict(self._by_mailbox)
        for mailbox, subscription in standing.items():
            if mailbox not in wanted:
                self._forget(subscription)
                self._delete(subscription)
        now = self.clock()
        for mailbox in sorted(wanted - set(standing)):
            if self._retry_at.get(mailbox, now) <= now and self._create(mailbox):
                woken.add(mailbox)
        for mailbox, subscription in standing.items():
            if (
                mailbox in wanted
                and subscription.expires - now <= RENEW_BEFORE
                and not self._renew(subscription)
            ):
                self._forget(subscription)
                if self._create(mailbox):
                    woken.add(mailbox)
        if woken:
            self.wake(sorted(woken))

    def _on_lifecycle(self, subscription_id: str, event: str) -> set[str]:
        with self._lock:
            subscription = self._by_id.get(subscription_id)
        if subscription is None:
            return set()
        log.info("Graph lifecycle notification %s for the subscription of %s", event, subscription.mailbox)
        if event == "reauthorizationRequired":
            if self._reauthorize(subscription) or self._renew(subscription):
                return set()
            self._forget(subscription)
            return {subscription.mailbox} if self._create(subscription.mailbox) else set()
        if event == "subscriptionRemoved":
            self._forget(subscription)
            return {subscription.mailbox} if self._create(subscription.mailbox) else set()
        if event == "missed":
            return {subscription.mailbox}
        return set()

    # --- Graph calls ---------------------------------------------------------------------------

    def _forget(self, subscription: Subscription) -> None:
        with self._lock:
            if self._by_mailbox.get(subscription.mailbox) is subscription:
                del self._by_mailbox[subscription.mailbox]
            self._by_id.pop(subscription.id, None)

    def _create(self, mailbox: str) -> bool:
        secret = secrets.token_urlsafe(32)
        expires = self.clock() + LIFETIME
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": self.notify_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "resource": f"/users/{mailbox}/events",
            "expirationDateTime": _iso(expires),
            "clientState": secret,
            "latestSupportedTlsVersion": "v1_2",
        }
        try:
            tokens = self.tokens_for(mailbox)
            answer = self.client.send(tokens, "POST", path("subscriptions"), body=body, idempotent=False)
        except Exception as exc:
            return self._failed(mailbox, f"{type(exc).__name__}: {exc}")
        if not answer.ok or not isinstance(answer.body, dict) or not answer.body.get("id"):
            hint = f"; the app needs {RIGHT}" if answer.status == 403 else ""
            return self._failed(mailbox, f"Graph answered {answer.describe()}{hint}")
        subscription = Subscription(
            id=str(answer.body["id"]),
            mailbox=mailbox,
            expires=_expiry(answer.body.get("expirationDateTime"), expires),
            client_state=secret,
        )
        with self._lock:
            if mailbox not in self._wanted:
                wanted = False
            else:
                wanted = True
                self._by_mailbox[mailbox] = subscription
                self._by_id[subscription.id] = subscription
                self._retry_at.pop(mailbox, None)
                self.errors.pop(mailbox, None)
        if not wanted:  # unwatched meanwhile
            self._delete(subscription)
            return False
        log.info("subscribed to changes of %s until %s", mailbox, _iso(subscription.expires))
        return True

    def _failed(self, mailbox: str, reason: str) -> bool:
        log.warning(
            "cannot subscribe to changes of %s (%s); it is polled, and tried again later", mailbox, reason
        )
        with self._lock:
            self.errors[mailbox] = reason
            self._retry_at[mailbox] = self.clock() + RETRY_AFTER
        return False

    def _renew(self, subscription: Subscription) -> bool:
        expires = self.clock() + LIFETIME
        try:
            answer = self.client.send(
                self.tokens_for(subscription.mailbox),
                "PATCH",
                path("subscriptions", subscription.id),
                body={"expirationDateTime": _iso(expires)},
                idempotent=True,
            )
        except Exception as exc:
            log.warning("cannot renew the subscription of %s: %s", subscription.mailbox, exc)
            return subscription.expires > self.clock()  # keep it while it lasts; try again next round
        if not answer.ok:
            log.warning(
                "Graph refused to renew the subscription of %s: %s", subscription.mailbox, answer.describe()
            )
            return False
        body = answer.body if isinstance(answer.body, dict) else {}
        with self._lock:
            subscription.expires = _expiry(body.get("expirationDateTime"), expires)
        return True

    def _reauthorize(self, subscription: Subscription) -> bool:
        """Graph's answer to ``reauthorizationRequired``: the subscription goes on with a fresh token."""
        try:
            answer = self.client.send(
                self.tokens_for(subscription.mailbox),
                "POST",
                path("subscriptions", subscription.id, "reauthorize"),
                idempotent=True,
            )
        except Exception as exc:
            log.warning("cannot reauthorize the subscription of %s: %s", subscription.mailbox, exc)
            return False
        return answer.ok

    def _delete(self, subscription: Subscription) -> None:
        try:
            self.client.send(
                self.tokens_for(subscription.mailbox), "DELETE", path("subscriptions", subscription.id)
            )
        except Exception as exc:
            log.info("could not delete the subscription of %s: %s", subscription.mailbox, exc)


def _expiry(value: object, asked: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError:
            pass
    return asked
