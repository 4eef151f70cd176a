"""Notification subscriptions: the event queue behind pull, push and streaming subscriptions.

The store reports every change (:class:`~roomsync_sim.store.StoreEvent`); the notifier numbers
them (the number is the watermark), keeps the recent ones and hands each subscription the
events of its mailbox, folders and event types:

- pull: ``GetEvents`` returns the events after a watermark (a ``StatusEvent`` when there are
  none); a subscription not polled within its ``Timeout`` minutes is gone
  (``ErrorSubscriptionNotFound``, as Exchange answers for an expired subscription);
- push: a worker thread POSTs ``SendNotification`` to the callback URL as events happen and a
  ``StatusEvent`` every ``StatusFrequency`` minutes without events; the callback's
  ``SubscriptionStatus`` ``Unsubscribe`` ends the subscription. A failed POST is retried after
  30 seconds, then 60, 120, ... until ``StatusFrequency`` minutes have passed, then the
  subscription is dropped (Microsoft's description of ``StatusFrequency``);
- streaming (2010 SP1 and later): ``GetStreamingEvents`` keeps the connection open for
  ``ConnectionTimeout`` minutes and writes one SOAP envelope per batch of events, a keep-alive
  (``ConnectionStatus`` OK) each minute without events and ``ConnectionStatus`` Closed at the end.
  A subscription is served by one connection at a time: a new ``GetStreamingEvents`` with it
  takes it over and the older connection ends with ``ErrorNewEventStreamConnectionOpened``
  ("returned to the first subscription connection if a second subscription connection is
  opened", ResponseCode in the EWS reference). The new connection goes on from the last event
  the old one delivered; events the old connection took but could not write because its client
  had already gone (:meth:`Stream.unsent`) are delivered again, so none is lost between two
  connections ("Stream notifications about mailbox events by using EWS in Exchange").

``minute_seconds`` is a test switch: how many real seconds count as one of those minutes
(60 by default), so tests need not wait minutes for a keep-alive or an expiry.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import logging
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from roomsync_sim.context import OperationError
from roomsync_sim.dialects import Dialect
from roomsync_sim.soap import SOAP, M, T, m, new_envelope, serialize, t
from roomsync_sim.store import StoreEvent

log = logging.getLogger("roomsync_sim.ews.notifications")

MAX_EVENTS_PER_NOTIFICATION = 50  # a simulator choice: more events set MoreEvents
RETAINED_EVENTS = 100_000  # older watermarks are ErrorInvalidWatermark
STREAMING_IDLE_EXPIRY_MINUTES = 30
_WM = b"RSWM"


@dataclass(frozen=True)
class Numbered:
    seq: int
    event: StoreEvent


@dataclass(eq=False)
class Subscription:
    id: str
    kind: str  # pull, push or streaming
    owner: str  # the authenticated caller that created it
    mailbox: str  # the mailbox it watches
    folder_ids: frozenset[str] | None  # None: every folder of the mailbox
    event_types: frozenset[str]
    position: int  # watermark of the last event delivered (push and streaming)
    touched: float  # monotonic time of the last use
    timeout_minutes: int = 0  # pull
    status_frequency: int = 30  # push
    url: str = ""
    caller_data: str | None = None
    next_status: float = 0.0
    failing_since: float | None = None
    retry_delay: float = 30.0
    next_try: float = 0.0
    connections: int = 0  # open streaming connections
    stream: Stream | None = None  # the streaming connection serving it (the newest one)

    def matches(self, event: StoreEvent) -> bool:
        if event.mailbox != self.mailbox or f"{event.kind}Event" not in self.event_types:
            return False
        if self.folder_ids is None:
            return True
        ids = self.folder_ids
        if event.parent is not None and event.parent.id in ids:
            return True
        if event.is_folder and event.object_id in ids:
            return True
        return event.old_parent is not None and event.old_parent.id in ids


class Notifier:
    """Events with watermarks and the subscriptions that read them; thread safe."""

    def __init__(self, dialect: Dialect, validate: Callable[[etree._Element], None] | None = None) -> None:
        self.dialect = dialect
        self._validate = validate
        self.cond = threading.Condition()
        self.events: deque[Numbered] = deque(maxlen=RETAINED_EVENTS)
        self.seq = 0
        self.epoch = uuid.uuid4().bytes[:8]
        self.subscriptions: dict[str, Subscription] = {}
        self.minute_seconds = 60.0
        self.allow_remote_callbacks = False
        self.closed = False
        self.push_log: list[dict[str, str]] = []  # deliveries, for the control endpoint
        self._push_thread: threading.Thread | None = None

    # --- events ----------------------------------------------------------------------------------

    def on_event(self, event: StoreEvent) -> None:
        if event.parent is None:
            return  # the root folder: nothing subscribes to it
        with self.cond:
            self.seq += 1
            self.events.append(Numbered(self.seq, event))
            self.cond.notify_all()

    def watermark(self, seq: int) -> str:
        return base64.b64encode(_WM + self.epoch + struct.pack(">Q", seq)).decode()

    def decode_watermark(self, value: str) -> int:
        try:
            raw = base64.b64decode(value.strip().encode(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 20 or raw[:4] != _WM or raw[4:12] != self.epoch:
            raise OperationError("ErrorInvalidWatermark", "The watermark is invalid.")
        seq = int(struct.unpack(">Q", raw[12:])[0])
        oldest = self.events[0].seq - 1 if self.events else self.seq
        if seq > self.seq or seq < oldest:
            raise OperationError("ErrorInvalidWatermark", "The watermark is invalid.")
        return seq

    def _pending(self, sub: Subscription, after: int) -> tuple[list[Numbered], bool]:
        """Matching events after a watermark (at most a notification's worth) and whether more wait."""
        out: list[Numbered] = []
        if not self.events or self.events[-1].seq <= after:
            return out, False
        start = max(0, after - self.events[0].seq + 1)
        for i in range(start, len(self.events)):
            numbered = self.events[i]
            if sub.matches(numbered.event):
                if len(out) >= MAX_EVENTS_PER_NOTIFICATION:
                    return out, True
                out.append(numbered)
        return out, False

    # --- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, sub: Subscription, watermark: str | None) -> int:
        """Register a subscription; returns the watermark it starts from."""
        with self.cond:
            start = self.decode_watermark(watermark) if watermark else self.seq
            sub.position = start
            sub.touched = time.monotonic()
            sub.next_status = sub.touched + sub.status_frequency * self.minute_seconds
            self.subscriptions[sub.id] = sub
            if sub.kind == "push":
                self._start_push_worker()
            return start

    def new_id(self) -> str:
        return base64.b64encode(b"RSSB" + uuid.uuid4().bytes).decode()

    @staticmethod
    def well_formed(sub_id: str) -> bool:
        """Whether a subscription id has the form of the ones this server hands out."""
        try:
            raw = base64.b64decode(sub_id.strip().encode(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return len(raw) == 20 and raw[:4] == b"RSSB"

    def lookup(self, sub_id: str, caller: str) -> Subscription:
        with self.cond:
            self._expire()
            sub = self.subscriptions.get(sub_id.strip())
            if sub is None:
                raise OperationError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
            if sub.owner != caller:
                raise OperationError(
                    "ErrorSubscriptionAccessDenied",
                    "A subscription can only be used by the account that created it.",
                )
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self.cond:
            self.subscriptions.pop(sub.id, None)
            self.cond.notify_all()

    def _expire(self) -> None:
        now = time.monotonic()
        for sub in list(self.subscriptions.values()):
            if sub.kind == "pull":
                limit = sub.timeout_minutes
            elif sub.kind == "streaming" and sub.connections == 0:
                limit = STREAMING_IDLE_EXPIRY_MINUTES
            else:
                continue
            if now - sub.touched > limit * self.minute_seconds:
                del self.subscriptions[sub.id]

    def stats(self) -> dict[str, object]:
        with self.cond:
            self._expire()
            kinds = [s.kind for s in self.subscriptions.values()]
            return {
                "watermark_seq": self.seq,
                "subscriptions": {k: kinds.count(k) for k in ("pull", "push", "streaming")},
                "minute_seconds": self.minute_seconds,
                "allow_remote_callbacks": self.allow_remote_callbacks,
                "push_deliveries": list(self.push_log[-50:]),
            }

    def close(self) -> None:
        """Stop push deliveries and end open streams (they write ConnectionStatus Closed)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        thread = self._push_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # --- pull ------------------------------------------------------------------------------------

    def get_events(self, sub: Subscription, watermark: str, parent: etree._Element) -> None:
        """Write the Notification of a GetEvents answer into ``parent``."""
        with self.cond:
            after = self.decode_watermark(watermark)
            sub.touched = time.monotonic()
            events, more = self._pending(sub, after)
            last = events[-1].seq if events else self.seq
            self.render(parent, m("Notification"), sub, after, events, more, status_seq=last)

    # --- rendering -------------------------------------------------------------------------------

    def render(
        self,
        parent: etree._Element,
        tag: str,
        sub: Subscription,
        previous: int,
        events: list[Numbered],
        more: bool,
        *,
        status_seq: int | None = None,
    ) -> etree._Element:
        note = etree.SubElement(parent, tag)
        etree.SubElement(note, t("SubscriptionId")).text = sub.id
        etree.SubElement(note, t("PreviousWatermark")).text = self.watermark(previous)
        etree.SubElement(note, t("MoreEvents")).text = "true" if more else "false"
        if not events:
            status = etree.SubElement(note, t("StatusEvent"))
            seq = previous if status_seq is None else status_seq
            etree.SubElement(status, t("Watermark")).text = self.watermark(seq)
        for numbered in events:
            _render_event(note, numbered.seq, numbered.event, self.watermark(numbered.seq))
        return note

    # --- streaming -------------------------------------------------------------------------------

    def open_stream(self, subs: list[Subscription], timeout_minutes: int) -> Stream:
        """A streaming connection for ``subs``; it takes them over from older connections."""
        stream = Stream(self, subs)
        with self.cond:
            for sub in subs:
                sub.connections += 1
                sub.touched = time.monotonic()
                sub.stream = stream
            self.cond.notify_all()  # an older connection of these subscriptions ends now
        stream.start(self._stream(stream, subs, timeout_minutes))
        return stream

    def _stream(self, stream: Stream, subs: list[Subscription], timeout_minutes: int) -> Iterator[bytes]:
        deadline = time.monotonic() + timeout_minutes * self.minute_seconds
        next_keepalive = time.monotonic() + self.minute_seconds
        try:
            while True:
                with self.cond:
                    batches: list[tuple[Subscription, int, list[Numbered], bool]] = []
                    while True:
                        now = time.monotonic()
                        registered = [s for s in subs if self.subscriptions.get(s.id) is s]
                        taken = [s for s in registered if s.stream is not stream]
                        if taken:
                            break
                        live = registered
                        for sub in live:
                            events, more = self._pending(sub, sub.position)
                            if events:
                                batches.append((sub, sub.position, events, more))
                            sub.touched = now
                        if batches or self.closed or not live or now >= deadline or now >= next_keepalive:
                            break
                        self.cond.wait(min(deadline, next_keepalive) - now)
                    if taken:
                        stream.last = []
                        yield self._streaming_envelope(
                            [],
                            status="Closed",
                            error=("ErrorNewEventStreamConnectionOpened", [s.id for s in taken]),
                        )
                        return
                    if batches:
                        stream.last = []
                        for sub, previous, events, _ in batches:
                            sub.position = events[-1].seq
                            stream.last.append((sub, previous, sub.position))
                        yield self._streaming_envelope(batches)
                        stream.last = []  # written: the client has them
                        next_keepalive = time.monotonic() + self.minute_seconds
                        continue
                    if self.closed or not live or now >= deadline:
                        break
                yield self._streaming_envelope([], status="OK")
                next_keepalive = time.monotonic() + self.minute_seconds
            yield self._streaming_envelope([], status="Closed")
        finally:
            with self.cond:
                for sub in subs:
                    sub.connections -= 1
                    sub.touched = time.monotonic()
                    if sub.stream is stream:
                        sub.stream = None

    def _unsent(self, stream: Stream) -> None:
        with self.cond:
            for sub, previous, delivered in stream.last:
                if sub.position == delivered:
                    sub.position = previous
            stream.last = []
            self.cond.notify_all()

    def _streaming_envelope(
        self,
        batches: list[tuple[Subscription, int, list[Numbered], bool]],
        status: str | None = None,
        error: tuple[str, list[str]] | None = None,
    ) -> bytes:
        envelope, body = new_envelope(self.dialect)
        resp = etree.SubElement(body, m("GetStreamingEventsResponse"), nsmap={"m": M, "t": T})
        messages = etree.SubElement(resp, m("ResponseMessages"))
        msg = etree.SubElement(
            messages,
            m("GetStreamingEventsResponseMessage"),
            {"ResponseClass": "Error" if error else "Success"},
        )
        if error:
            etree.SubElement(
                msg, m("MessageText")
            ).text = "A new connection was opened for the subscription; this one is closing."
            etree.SubElement(msg, m("ResponseCode")).text = error[0]
            etree.SubElement(msg, m("DescriptiveLinkKey")).text = "0"
            holder = etree.SubElement(msg, m("ErrorSubscriptionIds"))
            for sub_id in error[1]:
                etree.SubElement(holder, t("SubscriptionId")).text = sub_id
        else:
            etree.SubElement(msg, m("ResponseCode")).text = "NoError"
        if batches:
            holder = etree.SubElement(msg, m("Notifications"))
            for sub, previous, events, more in batches:
                # types.xsd declares t:Notification here, but Exchange writes m:Notification (as in
                # Microsoft's example); the EWS Managed API and exchangelib read only that form.
                self.render(holder, m("Notification"), sub, previous, events, more)
        if status:
            etree.SubElement(msg, m("ConnectionStatus")).text = status
        if self._validate is not None:
            self._validate(_schema_form(envelope))
        return serialize(envelope)

    # --- push ------------------------------------------------------------------------------------

    def check_callback(self, url: str) -> None:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        if ok and not self.allow_remote_callbacks:
            try:
                infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
                ok = bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
            except (OSError, ValueError):
                ok = False
        if not ok:
            raise OperationError("ErrorInvalidPushSubscriptionUrl", "The push subscription URL is invalid.")

    def _start_push_worker(self) -> None:
        if self._push_thread is None or not self._push_thread.is_alive():
            self._push_thread = threading.Thread(
                target=self._push_loop, name="roomsync-sim-push", daemon=True
            )
            self._push_thread.start()

    def _push_loop(self) -> None:
        while True:
            with self.cond:
                work: list[tuple[Subscription, bytes, int]] = []
                while not self.closed:
                    now = time.monotonic()
                    wake = now + self.minute_seconds
                    for sub in self.subscriptions.values():
                        if sub.kind != "push":
                            continue
                        if sub.failing_since is not None and now < sub.next_try:
                            wake = min(wake, sub.next_try)
                            continue
                        events, more = self._pending(sub, sub.position)
                        if events or now >= sub.next_status or sub.failing_since is not None:
                            last = events[-1].seq if events else sub.position
                            work.append((sub, self._push_envelope(sub, events, more), last))
                        else:
                            wake = min(wake, sub.next_status)
                    if work:
                        break
                    self.cond.wait(max(0.01, wake - now))
                if self.closed:
                    return
            for sub, payload, last in work:
                answer = self._post(sub.url, payload)
                self._after_push(sub, answer, last)

    def _push_envelope(self, sub: Subscription, events: list[Numbered], more: bool) -> bytes:
        envelope, body = new_envelope(None)
        header = envelope.makeelement(f"{{{SOAP}}}Header", {})
        envelope.insert(0, header)
        etree.SubElement(
            header, t("RequestServerVersion"), {"Version": self.dialect.accepted_versions[-1]}, nsmap={"t": T}
        )
        send = etree.SubElement(body, m("SendNotification"), nsmap={"m": M, "t": T})
        messages = etree.SubElement(send, m("ResponseMessages"))
        msg = etree.SubElement(messages, m("SendNotificationResponseMessage"), {"ResponseClass": "Success"})
        etree.SubElement(msg, m("ResponseCode")).text = "NoError"
        self.render(msg, m("Notification"), sub, sub.position, events, more)
        if self._validate is not None:
            # The body only: the request header's fixed Version is not the schema's concern here.
            check, check_body = new_envelope(None)
            check_body.append(etree.fromstring(etree.tostring(send)))
            self._validate(check)
        return serialize(envelope)

    def _post(self, url: str, payload: bytes) -> str | None:
        """POST to the callback; its SubscriptionStatus, or None when the delivery failed."""
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        timeout = max(1.0, min(30.0, self.minute_seconds))
        conn = cls(parts.hostname or "", parts.port, timeout=timeout)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request(
                "POST",
                path,
                payload,
                {
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": f"{M}/SendNotification",
                },
            )
            resp = conn.getresponse()
            data = resp.read(1 << 20)
            if resp.status != 200:
                return None
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
            status = root.findtext(f".//{m('SubscriptionStatus')}")
            return status.strip() if status else None
        except (OSError, http.client.HTTPException, etree.XMLSyntaxError):
            return None
        finally:
            conn.close()

    def _after_push(self, sub: Subscription, answer: str | None, last: int) -> None:
        with self.cond:
            now = time.monotonic()
            self.push_log.append({"subscription": sub.id, "status": answer or "failed"})
            del self.push_log[:-200]
            if answer == "Unsubscribe":
                self.subscriptions.pop(sub.id, None)
                return
            if answer == "OK":
                sub.position = max(sub.position, last)
                sub.failing_since = None
                sub.retry_delay = 30.0
                sub.next_status = now + sub.status_frequency * self.minute_seconds
                return
            if sub.failing_since is None:
                sub.failing_since = now
                sub.retry_delay = 30.0
            scale = self.minute_seconds / 60
            if now - sub.failing_since > sub.status_frequency * self.minute_seconds:
                self.subscriptions.pop(sub.id, None)
                return
            sub.next_try = now + sub.retry_delay * scale
            sub.retry_delay *= 2


class Stream:
    """One ``GetStreamingEvents`` connection: an iterator of SOAP envelopes.

    The HTTP layer calls :meth:`unsent` when it did not write the last envelope because the
    client had gone: the events it carried go back to their subscriptions for the next
    connection.
    """

    def __init__(self, notifier: Notifier, subs: list[Subscription]) -> None:
        self.notifier = notifier
        self.subs = subs
        self.last: list[tuple[Subscription, int, int]] = []  # (subscription, before, after)
        self._gen: Iterator[bytes] | None = None

    def start(self, gen: Iterator[bytes]) -> None:
        self._gen = gen

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> bytes:
        assert self._gen is not None
        return next(self._gen)

    def unsent(self) -> None:
        self.notifier._unsent(self)

    def close(self) -> None:
        close = getattr(self._gen, "close", None)
        if close is not None:
            close()


def _render_event(parent: etree._Element, seq: int, event: StoreEvent, watermark: str) -> None:
    elem = etree.SubElement(parent, t(f"{event.kind}Event"))
    etree.SubElement(elem, t("Watermark")).text = watermark
    etree.SubElement(elem, t("TimeStamp")).text = event.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    id_tag = "FolderId" if event.is_folder else "ItemId"
    etree.SubElement(elem, t(id_tag), {"Id": event.object_id, "ChangeKey": event.change_key})
    parent_folder = event.parent
    if parent_folder is not None:
        etree.SubElement(
            elem, t("ParentFolderId"), {"Id": parent_folder.id, "ChangeKey": parent_folder.change_key}
        )
    if event.kind == "Moved" and event.old_id and event.old_parent is not None:
        old_tag = "OldFolderId" if event.is_folder else "OldItemId"
        etree.SubElement(elem, t(old_tag), {"Id": event.old_id, "ChangeKey": event.old_change_key or ""})
        etree.SubElement(
            elem,
            t("OldParentFolderId"),
            {"Id": event.old_parent.id, "ChangeKey": event.old_parent.change_key},
        )


def _schema_form(envelope: etree._Element) -> etree._Element:
    """A copy with the streamed m:Notification renamed to the t:Notification of types.xsd."""
    copy = etree.fromstring(etree.tostring(envelope))
    for note in copy.iter(m("Notification")):
        parent = note.getparent()
        if parent is not None and parent.tag == m("Notifications"):
            note.tag = t("Notification")
    return copy
