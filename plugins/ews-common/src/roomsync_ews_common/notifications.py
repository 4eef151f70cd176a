"""Change notifications of the EWS connectors: the ``roomsync_watch`` hook and its watchers.

A notification only wakes the runner; the engine reads the changes with SyncFolderItems. So a
watcher may lose notifications without losing data, as long as it wakes every watched mailbox
after each gap: once a subscription stands, after a broken connection is back, after a lost
subscription was renewed. How the two mechanisms are used:

* streaming (Exchange 2010 SP1 and later): one ``GetStreamingEvents`` connection carries the
  subscriptions of up to 200 mailboxes (Microsoft's limit for a group). The service account
  opens it impersonating the group's first subscribed mailbox, and that mailbox's
  ``X-BackEndOverrideCookie`` goes with every other subscription of the group, so all of them live
  on the server the connection reaches. A connection is renewed after ``CONNECTION_MINUTES``
  (the subscriptions keep their events meanwhile); a broken one is reopened at once, then after
  growing pauses; lost or expired subscriptions are made anew;
* pull (Exchange 2007, whose schema has no streaming): one round of ``GetEvents`` over every
  watched mailbox every ``pull_seconds`` (default ``PULL_SECONDS``), at most ``PULL_CONCURRENCY``
  in flight. ``GetEvents`` carries a single subscription (2007's Messages.xsd) and a pull
  subscription watches folders of one mailbox (impersonation is per mailbox), so a round is one
  request per mailbox and the rate per mailbox is 60 / ``pull_seconds`` a minute; a round starts
  every interval however long the last one took. A subscription the server lost is made anew.

Notifications use connections of their own that fail fast (see :mod:`roomsync_ews_common.account`):
a stream held open for half an hour must not take a connection from the sync, and the back-off
is the watcher's. Exchange refuses subscriptions through delegate access, so only impersonating
connectors watch. Stopping does not unsubscribe: Exchange drops a streaming subscription 30
minutes after its last connection and a pull subscription after its time-out.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import requests
from exchangelib.errors import (
    ErrorExceededConnectionCount,
    ErrorExpiredSubscription,
    ErrorInternalServerTransientError,
    ErrorInvalidPullSubscriptionId,
    ErrorInvalidSubscription,
    ErrorInvalidWatermark,
    ErrorMissedNotificationEvents,
    ErrorReadEventsFailed,
    ErrorServerBusy,
    ErrorSubscriptionNotFound,
    ErrorSubscriptionUnsubsribed,
    ErrorTimeoutExpired,
    ErrorTooManyObjectsOpened,
    RateLimitError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.properties import DistinguishedFolderId, Mailbox, StatusEvent
from exchangelib.services import (
    GetEvents,
    GetStreamingEvents,
    SubscribeToPull,
    SubscribeToStreaming,
    Unsubscribe,
)

from roomsync.connector.base import Wake
from roomsync.connector.traffic import RequestCounter
from roomsync.hookspecs import hookimpl
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.options import EwsOptions

log = logging.getLogger(__name__)

EVENT_TYPES = ("CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent")
"""What concerns a calendar; all of them exist in the 2007 schema too."""

CONNECTION_MINUTES = 30
"""The life of one streaming connection (EWS allows 1 to 30 minutes); then it is renewed."""

GROUP_SIZE = 200
"""Subscriptions on one streaming connection (Microsoft's maximum for a group)."""

PULL_SECONDS = 15.0
"""How often Exchange 2007 is asked for the events of the watched mailboxes (4 requests per
mailbox a minute); ``pull_seconds`` of the exchange2007 options sets it per environment."""

PULL_CONCURRENCY = 4
"""GetEvents in flight at once (and never more than the environment's ``max_concurrency``): a
share of the service account's EWS connections (EWSMaxConcurrency, 10 by default) that leaves
the rest to the cycles."""

PULL_TIMEOUT_MINUTES = 10
"""A pull subscription nobody asked for events this long ends on the server."""

RETRY_SECONDS = (1.0, 60.0)
"""Pauses after failures in a row: the first retry is at once, then this, doubling up to the last."""

REFUSED_SECONDS = 300.0
"""How soon a mailbox the server refused to subscribe (no right, no mailbox) is tried again."""

LOST = (
    ErrorSubscriptionNotFound,
    ErrorInvalidSubscription,
    ErrorExpiredSubscription,
    ErrorSubscriptionUnsubsribed,
    ErrorInvalidWatermark,
    ErrorInvalidPullSubscriptionId,
    ErrorReadEventsFailed,
    ErrorMissedNotificationEvents,
)
"""Answers meaning the subscription is gone (expired, EWS restarted, events missed): subscribe anew."""

UNREACHABLE = (
    TransportError,
    requests.RequestException,
    OSError,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    ErrorExceededConnectionCount,
    ErrorInternalServerTransientError,
    RateLimitError,
    UnauthorizedError,
)
"""Failures of the connection or the whole server, not of one mailbox: back off, then reconnect."""

OWN_WAITS = (ErrorTimeoutExpired, ErrorTooManyObjectsOpened, ErrorInternalServerTransientError)
"""Errors exchangelib re-raises as ErrorServerBusy with a back-off it chose itself."""


def calendar(mailbox: str) -> DistinguishedFolderId:
    return DistinguishedFolderId(id="calendar", mailbox=Mailbox(email_address=mailbox))


class Backoff:
    """Pauses between attempts: none after the first failure, then doubling to a maximum."""

    def __init__(self, first: float, longest: float) -> None:
        self.first, self.longest = first, longest
        self.failures = 0

    def failed(self, error: BaseException | None = None) -> float:
        pause = 0.0 if self.failures == 0 else min(self.first * 2 ** (self.failures - 1), self.longest)
        self.failures += 1
        asked = _asked_back_off(error)
        return max(pause, asked) if asked is not None else pause

    def succeeded(self) -> None:
        self.failures = 0


def _asked_back_off(error: BaseException | None) -> float | None:
    """Seconds the server asked to wait (ErrorServerBusy). exchangelib also turns a broken
    connection into ErrorServerBusy, with a wait of its own: that one is not the server's."""
    if not isinstance(error, ErrorServerBusy) or isinstance(error.__context__, OWN_WAITS):
        return None
    return float(error.back_off) if isinstance(error.back_off, (int, float)) else None


class Watcher:
    """Watches one environment's mailboxes until :meth:`close`; :meth:`watch` replaces the set."""

    retry: ClassVar[tuple[float, float]] = RETRY_SECONDS

    def __init__(self, accounts: AccountPool, label: str) -> None:
        self.accounts = accounts
        self.label = label
        self.wanted: frozenset[str] = frozenset()
        self._wake: Wake = _nobody
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._refused: dict[str, float] = {}  # mailbox: when the server last refused to subscribe it
        self._retiring: list[threading.Thread] = []

    def watch(self, mailboxes: Iterable[str], wake: Wake) -> None:
        raise NotImplementedError

    def _take(self, mailboxes: Iterable[str], wake: Wake) -> bool:
        """Takes the mailboxes to watch and whom to wake, under the lock; ``False`` once closed."""
        if self._closed.is_set():
            return False
        self._wake = wake
        self.wanted = frozenset(mailboxes)
        return True

    def close(self) -> None:
        self._closed.set()
        for thread in self._retiring:
            thread.join(timeout=1)
        self.accounts.close()

    def notify(self, mailboxes: Iterable[str]) -> None:
        with self._lock:
            woken = sorted(set(mailboxes) & self.wanted)
            wake = self._wake
        if woken and not self._closed.is_set():
            try:
                wake(woken)
            except Exception:
                log.exception("%s: waking %d mailboxes failed", self.label, len(woken))

    def subscribable(self, mailbox: str) -> bool:
        refused = self._refused.get(mailbox)
        return refused is None or time.monotonic() - refused >= REFUSED_SECONDS

    def refused(self, mailbox: str, error: Exception) -> None:
        """The server would not subscribe this mailbox (a right, the mailbox): polling covers it."""
        self._refused[mailbox] = time.monotonic()
        log.warning(
            "%s: cannot watch %s, its changes are found by polling: %s: %s",
            self.label,
            mailbox,
            type(error).__name__,
            error,
            extra={"environment": self.label, "mailbox": mailbox},
        )

    def retire(self, subscriptions: dict[str, str]) -> None:
        """Unsubscribe, in the background, what is no longer watched (best effort)."""
        if not subscriptions:
            return

        def run() -> None:
            for mailbox, subscription_id in subscriptions.items():
                if self._closed.is_set():
                    return
                with contextlib.suppress(Exception):
                    Unsubscribe(account=self.accounts.account(mailbox)).get(subscription_id=subscription_id)

        thread = threading.Thread(target=run, name=f"roomsync-ews-unsubscribe-{self.label}", daemon=True)
        self._retiring = [t for t in self._retiring if t.is_alive()] + [thread]
        thread.start()


# --- streaming ---------------------------------------------------------------------------------


class StreamingWatcher(Watcher):
    """Groups of mailboxes, each on one streaming connection kept by a thread of its own."""

    connection_minutes: ClassVar[int] = CONNECTION_MINUTES
    group_size: ClassVar[int] = GROUP_SIZE

    def __init__(self, accounts: AccountPool, label: str) -> None:
        super().__init__(accounts, label)
        self.groups: list[StreamGroup] = []
        self.subscriptions: dict[str, str] = {}  # mailbox: streaming subscription id

    def watch(self, mailboxes: Iterable[str], wake: Wake) -> None:
        with self._lock:
            if not self._take(mailboxes, wake):
                return
            # Members stay in their group (their subscriptions share its server); new ones fill up.
            layout = [set(group.members & self.wanted) for group in self.groups]
            layout = [members for members in layout if members]
            for mailbox in sorted(self.wanted - set().union(*layout)):
                target = next((m for m in layout if len(m) < self.group_size), None)
                if target is None:
                    target = set()
                    layout.append(target)
                target.add(mailbox)
            wanted_groups = {frozenset(members) for members in layout}
            keep = [group for group in self.groups if group.members in wanted_groups]
            for group in self.groups:
                if group not in keep:
                    group.stop()
            kept = {group.members for group in keep}
            started = [StreamGroup(self, members) for members in wanted_groups - kept]
            self.groups = keep + started
            retired = {m: s for m, s in self.subscriptions.items() if m not in self.wanted}
            for mailbox in retired:
                del self.subscriptions[mailbox]
        for group in started:
            group.start()
        self.retire(retired)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            groups, self.groups = self.groups, []
        for group in groups:
            group.stop()
        super().close()


class StreamGroup:
    """Up to ``group_size`` mailboxes on one streaming connection, kept open by one thread."""

    def __init__(self, watcher: StreamingWatcher, members: frozenset[str]) -> None:
        self.watcher = watcher
        self.members = members
        self._stop = threading.Event()
        self._response: Any = None
        self._opened_at: float | None = None
        self._broken = False  # the connection failed: wake everyone once it is open again
        self._backoff = Backoff(*watcher.retry)
        self.thread = threading.Thread(
            target=self._run, name=f"roomsync-ews-stream-{watcher.label}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        _interrupt(self._response)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set() or self.watcher._closed.is_set()

    def _run(self) -> None:
        while not self.stopped:
            pause = 0.0
            self._opened_at = None
            try:
                self.watcher.notify(self._subscribe())
                if not self._stream():
                    pause = REFUSED_SECONDS  # nothing could be subscribed
                self._backoff.succeeded()
            except LOST as exc:
                if self.stopped:
                    break
                log.info("%s: subscriptions lost (%s), subscribing again", self.watcher.label, exc)
                with self.watcher._lock:
                    for mailbox in self.members:
                        self.watcher.subscriptions.pop(mailbox, None)
                pause = self._backoff.failed(exc)
            except Exception as exc:
                if self.stopped:
                    break
                self._broken = True
                if self._opened_at is not None and time.monotonic() - self._opened_at > self._backoff.longest:
                    self._backoff.succeeded()  # it served a good while: a fresh failure
                pause = self._backoff.failed(exc)
                log.warning(
                    "%s: streaming connection broken (%s: %s); reconnecting in %.0f s",
                    self.watcher.label,
                    type(exc).__name__,
                    exc,
                    pause,
                    extra={"environment": self.watcher.label, "mailboxes": len(self.members)},
                )
            self._stop.wait(pause)

    def _subscribe(self) -> list[str]:
        """Subscribe the members without a subscription; answers those now subscribed."""
        watcher = self.watcher
        with watcher._lock:
            subscribed = {m: watcher.subscriptions[m] for m in self.members if m in watcher.subscriptions}
        missing = [m for m in sorted(self.members) if m not in subscribed and watcher.subscribable(m)]
        anchor = min(subscribed, default=None)
        fresh: list[str] = []
        for mailbox in missing:
            if self.stopped:
                break
            account = watcher.accounts.account(mailbox)
            if anchor is not None:
                # The group's subscriptions live where the anchor's does.
                account.affinity_cookie = watcher.accounts.account(anchor).affinity_cookie
            try:
                subscription_id = SubscribeToStreaming(account=account).get(
                    folders=[calendar(mailbox)], event_types=EVENT_TYPES
                )
            except UNREACHABLE:
                raise
            except Exception as exc:
                watcher.refused(mailbox, exc)
                continue
            with watcher._lock:
                if self.stopped or mailbox not in watcher.wanted:
                    watcher.retire({mailbox: subscription_id})
                    continue
                watcher.subscriptions[mailbox] = subscription_id
            anchor = min(anchor or mailbox, mailbox)
            fresh.append(mailbox)
        return fresh

    def _stream(self) -> bool:
        """One connection until the server ends it; False when no member has a subscription."""
        watcher = self.watcher
        with watcher._lock:
            ids = {watcher.subscriptions[m]: m for m in self.members if m in watcher.subscriptions}
        if not ids:
            return False
        opener = watcher.accounts.account(min(ids.values()))
        _allow_connections(opener.protocol, len(watcher.groups) + 1)
        service = _Stream(account=opener, opened=self._opened)
        try:
            for notification in service.call(
                subscription_ids=list(ids), connection_timeout=watcher.connection_minutes
            ):
                if self.stopped:
                    break
                mailbox = ids.get(notification.subscription_id)
                if mailbox and any(not isinstance(e, StatusEvent) for e in notification.events):
                    watcher.notify([mailbox])
        finally:
            self._response = None
            with contextlib.suppress(Exception):
                service.stop_streaming()
        return True

    def _opened(self, response: Any) -> None:
        """The server accepted the connection: a reconnect is done, everyone may have missed changes."""
        self._response = response
        if self._stop.is_set():
            _interrupt(response)
            return
        if response.status_code == 200:
            self._opened_at = time.monotonic()
            if self._broken:
                self._broken = False
                log.info("%s: streaming connection restored", self.watcher.label)
                self.watcher.notify(self.members)


class _Stream(GetStreamingEvents):
    """GetStreamingEvents that hands over its open response, before any event: the watcher learns
    that a reconnect succeeded, and can shut the connection down to stop at once."""

    def __init__(self, *args: Any, opened: Callable[[Any], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_open = opened

    def _get_response(self, payload: Any, api_version: str) -> Any:
        # exchangelib gives the stream one time-out, its lifetime, which would let a connection
        # attempt to a dead server hang for half an hour: connect as quickly as any request.
        connect, lifetime = self.protocol.TIMEOUT, getattr(self, "timeout", None)
        if isinstance(connect, tuple) and isinstance(lifetime, (int, float)):
            self.timeout = (connect[0], lifetime)
        response = super()._get_response(payload=payload, api_version=api_version)
        self._on_open(response)
        return response


def _interrupt(response: Any) -> None:
    """Shut the socket of an open streaming response down: its reading thread returns at once."""
    connection = getattr(getattr(response, "raw", None), "connection", None)  # urllib3 keeps it
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


_grant_lock = threading.Lock()


def _allow_connections(protocol: Any, count: int) -> None:
    """Let the notification pool open a connection per stream and one for subscribing."""
    with _grant_lock:
        if protocol.max_connections < count:
            protocol.max_connections = count


# --- pull --------------------------------------------------------------------------------------


class PullWatcher(Watcher):
    """Every ``interval``, one round of GetEvents over the watched mailboxes' pull subscriptions,
    a few at a time, from one thread and a small pool of its own."""

    interval: ClassVar[float] = PULL_SECONDS
    concurrency: ClassVar[int] = PULL_CONCURRENCY
    timeout_minutes: ClassVar[int] = PULL_TIMEOUT_MINUTES

    def __init__(self, accounts: AccountPool, label: str, interval: float | None = None) -> None:
        """``interval``: seconds from one round's start to the next (default :attr:`interval`)."""
        super().__init__(accounts, label)
        self.every = interval
        self.subscriptions: dict[str, tuple[str, str]] = {}  # mailbox: (subscription id, watermark)
        self.rounds = 0  # rounds asked, for benchmarks and tests
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def seconds(self) -> float:
        return self.every if self.every is not None else type(self).interval

    def watch(self, mailboxes: Iterable[str], wake: Wake) -> None:
        with self._lock:
            if not self._take(mailboxes, wake):
                return
            retired = {m: s[0] for m, s in self.subscriptions.items() if m not in self.wanted}
            for mailbox in retired:
                del self.subscriptions[mailbox]
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"roomsync-ews-pull-{self.label}", daemon=True
                )
                self._thread.start()
        self._poke.set()
        self.retire(retired)

    def close(self) -> None:
        self._closed.set()
        self._poke.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)  # its round ends before the connections close
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        super().close()

    def _run(self) -> None:
        backoff = Backoff(*self.retry)
        broken = False
        while not self._closed.is_set():
            self._poke.clear()
            began = time.monotonic()
            try:
                changed = self._round()
                if broken:  # the server answers again: what happened meanwhile was not reported
                    broken = False
                    log.info("%s: Exchange answers again", self.label)
                    changed = list(self.wanted)
                backoff.succeeded()
                pause = max(0.0, self.seconds - (time.monotonic() - began))
            except Exception as exc:  # UNREACHABLE, or a surprise: either way, try again later
                changed = []
                broken = True
                pause = backoff.failed(exc)
                log.warning(
                    "%s: asking for events failed (%s: %s); again in %.0f s",
                    self.label,
                    type(exc).__name__,
                    exc,
                    pause,
                    extra={"environment": self.label},
                )
            self.notify(changed)
            self._poke.wait(pause)

    def _round(self) -> list[str]:
        """Subscribe who is not, ask everyone else for events; answers the mailboxes to wake.

        A failure of the server (``UNREACHABLE``) ends the round once the requests in flight are
        answered; the mailboxes not yet asked are asked in the next.
        """
        self.rounds += 1
        mailboxes = sorted(self.wanted)
        if not mailboxes:
            return []
        width = max(1, min(self.concurrency, self.accounts.options.max_concurrency, len(mailboxes)))
        if width == 1:
            return [m for m in mailboxes if self._ask(m)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(width, thread_name_prefix=f"roomsync-ews-pull-{self.label}")
        failed: list[BaseException] = []

        def ask(mailbox: str) -> bool:
            if failed:  # the server failed meanwhile: not asked in this round
                return False
            try:
                return self._ask(mailbox)
            except BaseException as exc:
                failed.append(exc)
                return False

        changed = [m for m, woken in zip(mailboxes, self._pool.map(ask, mailboxes), strict=True) if woken]
        if failed:
            raise failed[0]
        return changed

    def _ask(self, mailbox: str) -> bool:
        """One mailbox's events, or its subscription made; whether to wake it."""
        if self._closed.is_set():
            return False
        with self._lock:
            current = self.subscriptions.get(mailbox)
        account = self.accounts.account(mailbox)
        if current is not None:
            try:
                events, watermark = _events(account, *current)
            except LOST as exc:
                log.info("%s: subscription of %s lost (%s)", self.label, mailbox, exc)
            except UNREACHABLE:
                raise
            except Exception as exc:  # this mailbox only: no longer allowed, gone
                with self._lock:
                    self.subscriptions.pop(mailbox, None)
                self.refused(mailbox, exc)
                return False
            else:
                with self._lock:
                    if mailbox in self.wanted:
                        self.subscriptions[mailbox] = (current[0], watermark)
                return events
        if not self.subscribable(mailbox):
            return False
        try:
            subscription_id, watermark = SubscribeToPull(account=account).get(
                folders=[calendar(mailbox)],
                event_types=EVENT_TYPES,
                watermark=None,
                timeout=self.timeout_minutes,
            )
        except UNREACHABLE:
            raise
        except Exception as exc:
            self.refused(mailbox, exc)
            return False
        with self._lock:
            if mailbox in self.wanted:
                self.subscriptions[mailbox] = (subscription_id, watermark)
        return True  # subscribed now: what changed before it is unknown


def _events(account: Any, subscription_id: str, watermark: str) -> tuple[bool, str]:
    """Whether anything happened since ``watermark``, and the watermark to ask from next time."""
    happened = False
    service = GetEvents(account=account)
    while True:
        notification = service.get(subscription_id=subscription_id, watermark=watermark)
        for event in notification.events:
            watermark = event.watermark or watermark
            happened = happened or not isinstance(event, StatusEvent)
        if not notification.more_events:
            return happened, watermark


def _nobody(mailboxes: list[str]) -> None:
    """The wake of a watcher nobody asked yet."""


# --- the hook ----------------------------------------------------------------------------------


class EwsNotifications:
    """``roomsync_watch`` for :class:`~roomsync_ews_common.connector.EwsConnector`, mixed into it.

    The connector closes the watcher with :meth:`close_watcher` in ``roomsync_close``.
    """

    notifications: ClassVar[str] = "streaming"
    """How a generation is watched: ``streaming`` (2010 SP1 and later) or ``pull`` (2007)."""

    environment: str
    options: EwsOptions
    requests_sent: RequestCounter
    request_server_version: ClassVar[str]
    _watcher: Watcher | None = None
    _watcher_lock: ClassVar[threading.Lock] = threading.Lock()

    def pull_seconds(self) -> float | None:
        """The environment's interval of pull rounds; ``None``: :data:`PULL_SECONDS`."""
        return None

    def can_watch(self) -> bool:
        """Exchange refuses subscriptions through delegate access."""
        return self.options.access == "impersonation"

    @hookimpl
    def roomsync_watch(self, mailboxes: list[str], wake: Wake) -> bool:
        if not self.can_watch():
            return False
        with self._watcher_lock:
            if self._watcher is None:
                accounts = AccountPool(
                    self.options,
                    self.request_server_version,
                    own_connections=f"watch:{self.environment}",
                    counter=self.requests_sent,
                )
                if self.notifications == "pull":
                    self._watcher = PullWatcher(accounts, self.environment, self.pull_seconds())
                else:
                    self._watcher = StreamingWatcher(accounts, self.environment)
            self._watcher.watch(mailboxes, wake)
        return True

    def close_watcher(self) -> None:
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()


__all__ = ["EVENT_TYPES", "EwsNotifications", "PullWatcher", "StreamingWatcher", "Watcher"]
