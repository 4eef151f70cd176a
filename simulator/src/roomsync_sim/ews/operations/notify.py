"""Subscribe, GetEvents, GetStreamingEvents and Unsubscribe (see :mod:`roomsync_sim.ews.notifications`).

A subscription belongs to the account that created it (another account gets
``ErrorSubscriptionAccessDenied``) and watches one mailbox: the caller's own or an impersonated
one; Exchange does not support subscriptions through delegate access
(``ErrorSubscriptionDelegateAccessNotSupported``).
"""

from __future__ import annotations

import time

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.ews.notifications import Notifier, Subscription
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.common import item_ids, resolve_folder
from roomsync_sim.soap import M, T, m, response_message, schema_fault, t

_KINDS = {
    "PullSubscriptionRequest": "pull",
    "PushSubscriptionRequest": "push",
    "StreamingSubscriptionRequest": "streaming",
}


def _notifier(ctx: Context) -> Notifier:
    if ctx.notifier is None:
        raise OperationError("ErrorInvalidOperation", "Notifications are not available.")
    return ctx.notifier


def _int_in_range(request: etree._Element, tag: str, low: int, high: int, type_name: str) -> int:
    text = (request.findtext(tag) or "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        ns, local = tag[1:].split("}")
        raise schema_fault(
            f"The '{ns}:{local}' element is invalid - The value '{text}' is invalid according to its "
            f"datatype '{T}:{type_name}' - The value must be between {low} and {high}."
        )
    return int(text)


@operation("Subscribe")
def subscribe(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    notifier = _notifier(ctx)
    body = next((c for c in request if isinstance(c.tag, str)), None)
    local = etree.QName(body).localname if body is not None else ""
    kind = _KINDS.get(local)
    if (
        body is None
        or kind is None
        or (kind == "streaming" and not ctx.dialect.supports_operation("GetStreamingEvents"))
    ):
        # What the dialect's schema says of it (2007 has no streaming subscriptions).
        raise schema_fault(
            f"The element 'Subscribe' in namespace '{M}' has invalid child element '{local}' "
            f"in namespace '{M}'."
        )
    if kind == "pull":
        timeout = _int_in_range(body, t("Timeout"), 1, 1440, "SubscriptionTimeoutType")
    elif kind == "push":
        frequency = _int_in_range(body, t("StatusFrequency"), 1, 1440, "SubscriptionStatusFrequencyType")
    try:
        event_types = frozenset(
            (e.text or "").strip() for e in body.iterfind(f"{t('EventTypes')}/{t('EventType')}")
        )
        folder_ids: frozenset[str] | None = None
        mailbox = ctx.identity
        if body.get("SubscribeToAllFolders") in ("true", "1"):
            ctx.mailbox()
        else:
            folders = [resolve_folder(ctx, e) for e in item_ids(body.find(t("FolderIds")))]
            if not folders:
                raise OperationError(
                    "ErrorInvalidSubscriptionRequest", "The subscription request is invalid."
                )
            mailboxes = {f.mailbox.smtp for f in folders}
            if len(mailboxes) != 1:
                raise OperationError(
                    "ErrorInvalidSubscriptionRequest",
                    "All folders of a subscription must be in the same mailbox.",
                )
            mailbox = mailboxes.pop()
            folder_ids = frozenset(f.id for f in folders)
        if mailbox != ctx.identity:
            raise OperationError(
                "ErrorSubscriptionDelegateAccessNotSupported",
                "Subscriptions are not supported for delegate user access.",
            )
        sub = Subscription(
            id=notifier.new_id(),
            kind=kind,
            owner=ctx.caller.smtp,
            mailbox=mailbox,
            folder_ids=folder_ids,
            event_types=event_types,
            position=0,
            touched=time.monotonic(),
        )
        if kind == "pull":
            sub.timeout_minutes = timeout
        elif kind == "push":
            sub.status_frequency = frequency
            sub.url = (body.findtext(t("URL")) or "").strip()
            sub.caller_data = body.findtext(t("CallerData"))
            notifier.check_callback(sub.url)
        watermark = None
        if kind != "streaming":
            watermark = body.findtext(t("Watermark")) or body.findtext(m("Watermark"))
        start = notifier.subscribe(sub, watermark.strip() if watermark else None)
    except OperationError as e:
        response_message(messages, "Subscribe", e.code, e.text)
        return
    msg = response_message(messages, "Subscribe")
    etree.SubElement(msg, m("SubscriptionId")).text = sub.id
    if kind != "streaming":
        etree.SubElement(msg, m("Watermark")).text = notifier.watermark(start)


@operation("GetEvents")
def get_events(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    notifier = _notifier(ctx)
    try:
        sub = notifier.lookup(request.findtext(m("SubscriptionId")) or "", ctx.caller.smtp)
        if sub.kind != "pull":
            raise OperationError(
                "ErrorInvalidPullSubscriptionId", "The subscription is not a pull subscription."
            )
        msg = response_message(messages, "GetEvents")
        notifier.get_events(sub, request.findtext(m("Watermark")) or "", msg)
    except OperationError as e:
        for stale in messages.findall(m("GetEventsResponseMessage")):
            messages.remove(stale)
        response_message(messages, "GetEvents", e.code, e.text)


@operation("Unsubscribe")
def unsubscribe(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    notifier = _notifier(ctx)
    try:
        sub = notifier.lookup(request.findtext(m("SubscriptionId")) or "", ctx.caller.smtp)
        if sub.kind == "push":
            # [MS-OXWSNTIF] 3.1.4.4 Unsubscribe: it removes a pull or streaming subscription; "if
            # other subscription types are specified, a ResponseCode element with
            # ErrorInvalidSubscription will be returned".
            # https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxwsntif/2e744628-e98f-4b67-98c4-b1c209438294
            raise OperationError(
                "ErrorInvalidSubscription",
                "A push subscription ends when its callback answers Unsubscribe.",
            )
        notifier.unsubscribe(sub)
    except OperationError as e:
        response_message(messages, "Unsubscribe", e.code, e.text)
        return
    response_message(messages, "Unsubscribe")


@operation("GetStreamingEvents")
def get_streaming_events(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    notifier = _notifier(ctx)
    timeout = _int_in_range(
        request, m("ConnectionTimeout"), 1, 30, "StreamingSubscriptionConnectionTimeoutType"
    )
    ids = [(e.text or "").strip() for e in request.iterfind(f"{m('SubscriptionIds')}/{t('SubscriptionId')}")]
    subs: list[Subscription] = []
    failed: list[str] = []
    error: OperationError | None = None
    for sub_id in ids:
        try:
            if not notifier.well_formed(sub_id):
                # Not an id this server could have handed out: the subscription is invalid, not
                # merely gone (ErrorInvalidSubscription, "the subscription is invalid", in the
                # ResponseCode list of the EWS reference; ErrorSubscriptionNotFound is for a
                # subscription that expired or was removed).
                raise OperationError("ErrorInvalidSubscription", "The subscription is invalid.")
            sub = notifier.lookup(sub_id, ctx.caller.smtp)
            if sub.kind != "streaming":
                raise OperationError(
                    "ErrorInvalidSubscription", "The subscription is not a streaming subscription."
                )
            subs.append(sub)
        except OperationError as e:
            error = error or e
            failed.append(sub_id)
    if error is not None or not subs:
        error = error or OperationError("ErrorInvalidSubscription", "No subscription was given.")
        msg = response_message(messages, "GetStreamingEvents", error.code, error.text)
        if failed:
            holder = etree.SubElement(msg, m("ErrorSubscriptionIds"))
            for sub_id in failed:
                etree.SubElement(holder, t("SubscriptionId")).text = sub_id
        return
    ctx.stream = notifier.open_stream(subs, timeout)
