"""Carrying out a plan in three steps that make a crash at any point harmless.

1. *Record*: ROOMS changes from Exchange and the intent of every Exchange write are committed
   first. A create is recorded as a ``CREATING`` link, so after a crash the next cycle looks the
   stamp up instead of creating again; a pending update is a ``FAILED`` link rewritten next cycle.
   Creates are recorded a page at a time (:data:`PAGE_BATCHES` batches), each page just before
   it is written, so a first export of any size holds one page of drafts and links.
2. *Write*: batched connector calls; creates before the deletes of an organizer change. Each
   batch is told to the cycle's :class:`WriteProgress`, so a long first export shows it moves.
3. *Settle*: the outcome of each write is stored in its link, each page of creates committed
   with its outcome; the caller then stores the new sync state and journal cursor in the same
   commit as the rest. A crash between pages leaves the pages before it linked, the page it hit
   recorded, and the rest unwritten: the next cycle finishes without writing anything twice.

An entry holding a value the server cannot take (beyond the limits its connector declares, or
refused by the server) is *refused* on its own: the rest of the batch is written, the organizer
is told in plain words, and it is not sent again until the reservation changes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import pluggy

from roomsync.connector.base import chunked
from roomsync.connector.companions import has_companions
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import (
    CalendarEntry,
    EntryDraft,
    EntryUpdate,
    ItemRef,
    WriteErrorKind,
    WriteResult,
)
from roomsync.contract import chained
from roomsync.domain import EventFields, Reservation
from roomsync.engine.groups import CycleGroups
from roomsync.engine.intent import intent
from roomsync.engine.limits import Problem, problem_facts, problems
from roomsync.engine.merge import Snapshot, snapshot, with_foreign_resources
from roomsync.engine.plan import Create, Delete, Plan, Update
from roomsync.engine.read_phase import map_imported
from roomsync.engine.report import CycleReport
from roomsync.errors import InvalidInput, RoomsyncError, TransientConnectorError
from roomsync.notify.message import Notification, NotificationKind
from roomsync.storage.protocols import Link, LinkState, LogEntry, Origin, SeenEntry, UnitOfWork

HostFor = Callable[[str], ConnectorHost | None]
Visit = Callable[[str], AbstractContextManager[bool]]
"""Another mailbox to a cycle for a write in it: True once its own cycle is not running."""
OnBatch = Callable[[int, int], None]
"""Told (entries written, entries to write) in a cycle after each batch it wrote."""
W = TypeVar("W", EntryDraft, EntryUpdate)
PAGE_BATCHES = 5
"""Batches of creates recorded, written and committed together: a first export's page."""

log = logging.getLogger("roomsync.engine")


def now() -> datetime:
    return datetime.now(UTC)


def draft_for(pm: pluggy.PluginManager, reservation: Reservation) -> EntryDraft:
    """The entry a reservation becomes, after every ``roomsync_map_export`` plugin had its say."""
    assert reservation.id is not None
    draft = EntryDraft(
        stamp=reservation.id,
        fields=reservation.fields,
        setup_minutes=reservation.setup_minutes,
        followup_minutes=reservation.followup_minutes,
    )
    mapped: EntryDraft = chained(pm, "roomsync_map_export", "draft", draft, reservation=reservation)
    return mapped


def read_back(
    pm: pluggy.PluginManager, mailbox: str, stamp: str, fields: EventFields, groups: CycleGroups | None = None
) -> Snapshot:
    """The snapshot of a written entry as the next read will see it: import mappings applied,
    and with ``groups`` its groups' persons added as the read phase adds them."""
    entry = CalendarEntry(item_id="", mailbox=mailbox, organizer=mailbox, stamp=stamp, fields=fields)
    read = map_imported(pm, [entry])[0].fields
    return snapshot(groups.held(read, mailbox) if groups else read)


class WriteProgress:
    """The entries one cycle has written and has to write, over all its passes.

    An entry refused before it was sent counts as written: it is done with for this cycle.
    """

    def __init__(self, on_batch: OnBatch | None = None) -> None:
        self.on_batch = on_batch
        self.done = 0
        self.total = 0

    def planned(self, count: int) -> None:
        self.total += count

    def wrote(self, count: int) -> None:
        if count <= 0:
            return
        self.done = min(self.done + count, self.total)
        if self.on_batch is None:
            return
        try:
            self.on_batch(self.done, self.total)
        except Exception:  # showing progress must never cost the outcome of a write
            log.exception("the progress callback failed")

    def settle(self) -> None:
        """The pass wrote what it could: what it planned and did not send is done with too."""
        self.wrote(self.total - self.done)


class PlanApplier:
    def __init__(
        self,
        uow: UnitOfWork,
        host: ConnectorHost,
        host_for: HostFor,
        pm: pluggy.PluginManager,
        plan: Plan,
        report: CycleReport,
        known_rooms: frozenset[str],
        progress: WriteProgress | None = None,
        groups: CycleGroups | None = None,
        visit: Visit | None = None,
    ) -> None:
        self.visit = visit
        self.known_rooms = known_rooms  # read once for the cycle by the view
        self.groups = groups  # the cycle's distribution groups, as the view saw them
        self.progress = progress or WriteProgress()
        self.uow = uow
        self.host = host
        self.host_for = host_for
        self.pm = pm
        self.plan = plan
        self.report = report
        self.mailbox = plan.mailbox
        self.notifications: list[Notification] = list(plan.notifications)
        self.links: dict[tuple[str, str], Link] = {}
        self.updates: list[Update] = list(plan.updates)
        self.rewrites: list[tuple[Reservation, EntryUpdate, Update]] = []

    # --- step 1 ----------------------------------------------------------------------------

    def record(self) -> None:
        rooms, sync = self.uow.rooms, self.uow.sync
        for key, link in self.plan.links.items():
            self.links[key] = link
        for item in self.plan.new_reservations:
            self._book_from_outlook(item.entry)
        for change in self.plan.imports:
            try:
                updated = rooms.update_reservation(
                    change.reservation_id,
                    fields=change.fields,
                    expected_version=change.expected_version,
                    origin=Origin.EXCHANGE,
                    actor=self.mailbox,
                )
            except InvalidInput as exc:
                # ROOMS changed under us (or a room went): nothing is lost by trying again.
                raise TransientConnectorError(
                    f"reservation {change.reservation_id} changed during the cycle; "
                    f"retried next cycle ({exc})"
                ) from exc
            key = (change.reservation_id, self.mailbox)
            self.links[key] = replace(self.links[key], rooms_version=updated.version)
            self.report.imported += 1
        for cancel in self.plan.cancels:
            reservation = rooms.get_reservation(cancel.reservation_id)
            if reservation is not None and reservation.active:
                rooms.cancel_reservation(
                    cancel.reservation_id, origin=Origin.EXCHANGE, actor=self.mailbox, reason=cancel.reason
                )
                self.report.cancelled += 1
                self._log("info", "cancel", f"cancelled: {cancel.reason}", cancel.reservation_id)
        for reservation_id, reason in self.plan.disable:
            rooms.set_sync_disabled(reservation_id, True, reason)
            self._log("warning", "sync-disabled", reason, reservation_id)
        for reject in self.plan.rejects:
            sync.save_seen_entry(
                SeenEntry(self.mailbox, reject.entry.item_id, reject.entry.change_key, reject.reason)
            )
            self.report.rejected += 1
            self._log("warning", "rejected", f"'{reject.entry.fields.title}': {reject.reason}")
        for reservation_id, keys in self.plan.conflicts:
            self.report.conflicts += 1
            self._log("warning", "conflict", f"conflict in {', '.join(sorted(keys))}", reservation_id)
        for delete in self.plan.deletes:
            if delete.after_create:
                continue  # marked only once the new organizer's entry exists
            key = (delete.reservation_id, delete.mailbox)
            existing = self.links.get(key) or self._stored_link(*key)
            if existing is not None:
                self.links[key] = replace(existing, state=LinkState.DELETING)
        for key in self.plan.drop_links:
            self.links.pop(key, None)
            sync.delete_link(*key)
        self._record_writes()
        sync.save_links(self.links.values())
        for note in self.plan.notes:
            self._log("info", "note", note)
        self.uow.commit()

    def _record_writes(self) -> None:
        """Prepare every update, and record each on its link before anything is sent; creates
        are prepared and recorded page by page as they are written (:meth:`_creates`)."""
        found = self.uow.rooms.get_reservations([u.reservation_id for u in self.updates])
        for update in self.updates:
            reservation = self._held(found.get(update.reservation_id))
            key = (update.reservation_id, self.mailbox)
            stored = self.links.get(key) or self._stored_link(*key)
            if reservation is None or stored is None or stored.item_id is None:
                continue
            changed = reservation.model_copy(update={"fields": update.fields})
            draft = self._written(draft_for(self.pm, changed))
            entry_update = EntryUpdate(
                item_id=stored.item_id,
                change_key=stored.change_key,
                stamp=draft.stamp,
                fields=with_foreign_resources(draft.fields, stored.exchange_snapshot, self.known_rooms),
                setup_minutes=draft.setup_minutes,
                followup_minutes=draft.followup_minutes,
                companions=stored.companions,
            )
            written = intent(
                snapshot(reservation.fields), self._read_back(entry_update.stamp, entry_update.fields)
            )
            self.links[key] = replace(stored, written=written)
            self.rewrites.append((reservation, entry_update, update))

    def _book_from_outlook(self, entry: CalendarEntry) -> None:
        rooms = tuple(r for r in entry.fields.rooms if r in self.known_rooms)
        fields = entry.fields.model_copy(update={"rooms": rooms})
        try:
            reservation = self.uow.rooms.create_reservation(
                Reservation(fields=fields, organizer=self.mailbox, creator=self.mailbox),
                origin=Origin.EXCHANGE,
                actor=self.mailbox,
            )
        except InvalidInput as exc:
            self.uow.sync.save_seen_entry(SeenEntry(self.mailbox, entry.item_id, entry.change_key, str(exc)))
            self.report.rejected += 1
            self._log("warning", "rejected", f"'{entry.fields.title}': {exc}")
            return
        assert reservation.id is not None
        # Committed with its link before the stamp is written, so the stamp never names a
        # reservation that a crash could take back.
        self.links[(reservation.id, self.mailbox)] = Link(
            reservation_id=reservation.id,
            mailbox=self.mailbox,
            item_id=entry.item_id,
            change_key=entry.change_key,
            state=LinkState.FAILED,
            rooms_version=reservation.version,
            rooms_snapshot=snapshot(reservation.fields),
            exchange_snapshot=snapshot(entry.fields),
            last_error="stamp not yet written",
        )
        self.updates.append(Update(reservation.id, reservation.fields))
        self.report.booked += 1
        self._log("info", "booked", f"reservation from Outlook entry '{entry.fields.title}'", reservation.id)

    # --- step 2 and 3 ------------------------------------------------------------------------

    def write(self) -> None:
        recorded = dict(self.links)
        self.progress.planned(len(self.plan.creates) + len(self.rewrites) + len(self.plan.deletes))
        created = self._creates()
        self._updates()
        local = [d for d in self.plan.deletes if d.mailbox == self.mailbox]
        self._deletes(self.host, self.mailbox, local)
        remote: dict[str, list[Delete]] = defaultdict(list)
        for delete in self.plan.deletes:
            if delete.mailbox == self.mailbox:
                continue
            if delete.after_create and delete.reservation_id not in created:
                continue  # the new entry is not there yet: keep the old one
            remote[delete.mailbox].append(delete)
        for mailbox, deletes in remote.items():
            host = self.host_for(mailbox)
            try:
                if host is None:
                    raise RoomsyncError(f"{mailbox} is not assigned to a usable environment")
                # Never beside that mailbox's own cycle, which may be reading the entry right now.
                with self.visit(mailbox) if self.visit else nullcontext(True) as free:
                    if not free:
                        raise RoomsyncError(f"{mailbox} stayed in a cycle of its own")
                    self._deletes(host, mailbox, deletes)
            except RoomsyncError as exc:
                # The old mailbox's own cycle retries a DELETING link.
                self._log("warning", "organizer-change", f"old entry in {mailbox} not removed yet: {exc}")
                for delete in deletes:
                    link = self._stored_link(delete.reservation_id, mailbox)
                    if link is not None:
                        self.links[(delete.reservation_id, mailbox)] = replace(
                            link, state=LinkState.DELETING, last_error=str(exc)
                        )
        # The rest was saved by record(); each link is saved once per step.
        self.uow.sync.save_links(link for key, link in self.links.items() if link is not recorded.get(key))
        self.progress.settle()

    def _creates(self) -> set[str]:
        """Every create, a page at a time: its intents recorded and committed, then written, then
        its outcome stored and committed, so that a first export holds one page, not every
        reservation, draft and link, and a crash between pages leaves the pages before it
        linked and the page it hit recorded (the next cycle looks those up by stamp)."""
        created: set[str] = set()
        size = self.host.capabilities().max_batch * PAGE_BATCHES
        for offset in range(0, len(self.plan.creates), size):
            page = self._record_creates(self.plan.creates[offset : offset + size])
            created |= self._write_creates(page)
            keys = [(reservation.id or "", self.mailbox) for reservation, _ in page]
            self.uow.sync.save_links(self.links.pop(key) for key in keys if key in self.links)
            self.uow.commit()
        return created

    def _record_creates(self, creates: Sequence[Create]) -> list[tuple[Reservation, EntryDraft]]:
        """Prepare one page of creates and commit their intents on their links."""
        found = self.uow.rooms.get_reservations([c.reservation_id for c in creates])
        page: list[tuple[Reservation, EntryDraft]] = []
        for create in creates:
            reservation = self._held(found.get(create.reservation_id))
            if reservation is None:
                continue
            draft = self._written(draft_for(self.pm, reservation)).model_copy(
                update={"known_new": create.known_new}
            )
            key = (create.reservation_id, self.mailbox)
            link = self.links.get(key) or Link(reservation_id=create.reservation_id, mailbox=self.mailbox)
            written = intent(snapshot(reservation.fields), self._read_back(draft.stamp, draft.fields))
            self.links[key] = replace(link, written=written)
            page.append((reservation, draft))
        self.uow.sync.save_links(self.links[(r.id or "", self.mailbox)] for r, _ in page)
        self.uow.commit()
        return page

    def _write_creates(self, page: list[tuple[Reservation, EntryDraft]]) -> set[str]:
        if not page:
            return set()
        drafts = [draft for _, draft in page]
        results, refused = self._within_limits(drafts, self.host.create_entries)
        created = set()
        for (reservation, draft), result, bad in zip(page, results, refused, strict=True):
            assert reservation.id is not None
            key = (reservation.id, self.mailbox)
            link = self.links.get(key) or Link(reservation_id=reservation.id, mailbox=self.mailbox)
            if result.ok:
                self.links[key] = replace(
                    link,
                    item_id=result.item_id,
                    change_key=result.change_key,
                    state=LinkState.SYNCED,
                    rooms_version=reservation.version,
                    rooms_snapshot=snapshot(reservation.fields),
                    exchange_snapshot=self._read_back(draft.stamp, draft.fields),
                    written=None,
                    attempts=0,
                    last_error=None,
                    companions=has_companions(draft.fields, draft.setup_minutes, draft.followup_minutes),
                )
                created.add(reservation.id)
                self.report.created += 1
            elif bad or result.error_kind is WriteErrorKind.INVALID:
                self._refuse(reservation, link, "create", result, bad)
            else:
                self.links[key] = replace(link, attempts=link.attempts + 1, last_error=result.error)
                self._failed(reservation.id, "create", result)
        return created

    def _updates(self) -> None:
        if not self.rewrites:
            return
        results, refused = self._within_limits([u for _, u, _ in self.rewrites], self.host.update_entries)
        for (reservation, written, planned), result, bad in zip(self.rewrites, results, refused, strict=True):
            assert reservation.id is not None
            key = (reservation.id, self.mailbox)
            link = self.links[key]
            if result.ok:
                self.links[key] = replace(
                    link,
                    change_key=result.change_key,
                    state=LinkState.SYNCED,
                    rooms_version=reservation.version,
                    rooms_snapshot=snapshot(reservation.fields),
                    exchange_snapshot=self._read_back(written.stamp, written.fields),
                    written=None,
                    attempts=0,
                    last_error=None,
                    # Those of the entry before are rewritten or removed with the update.
                    companions=has_companions(
                        written.fields, written.setup_minutes, written.followup_minutes
                    ),
                )
                self.report.updated += 1
            elif result.error_kind is WriteErrorKind.NOT_FOUND and planned.if_gone is not None:
                self.uow.rooms.cancel_reservation(
                    link.reservation_id, origin=Origin.EXCHANGE, actor=self.mailbox, reason=planned.if_gone
                )
                self.links.pop(key, None)
                self.uow.sync.delete_link(*key)
                self.report.cancelled += 1
            elif bad or result.error_kind is WriteErrorKind.INVALID:
                self._refuse(reservation, link, "update", result, bad)
            else:
                self.links[key] = replace(
                    link, state=LinkState.FAILED, attempts=link.attempts + 1, last_error=result.error
                )
                self._failed(link.reservation_id, "update", result)

    def _deletes(self, host: ConnectorHost, mailbox: str, deletes: list[Delete]) -> None:
        if not deletes:
            return
        refs = [ItemRef(item_id=d.item_id, change_key=None, stamp=d.reservation_id) for d in deletes]
        results: list[WriteResult] = []
        for batch in chunked(refs, host.capabilities().max_batch):
            results.extend(host.delete_entries(mailbox, batch))
            self.progress.wrote(len(batch))
        for delete, result in zip(deletes, results, strict=True):
            key = (delete.reservation_id, mailbox)
            if result.ok or result.error_kind is WriteErrorKind.NOT_FOUND:
                self.links.pop(key, None)
                self.uow.sync.delete_link(*key)
                self.report.deleted += 1 if result.ok else 0
            else:
                link = self.links.get(key) or self._stored_link(*key)
                if link is not None:
                    self.links[key] = replace(
                        link, state=LinkState.DELETING, attempts=link.attempts + 1, last_error=result.error
                    )
                self._failed(delete.reservation_id, "delete", result)

    # --- values the server cannot take -------------------------------------------------------

    def _within_limits(
        self, items: Sequence[W], write: Callable[[str, Sequence[W]], list[WriteResult]]
    ) -> tuple[list[WriteResult], list[list[Problem]]]:
        """Results of writing the items within the connector's limits; the others are not sent."""
        limits = self.host.capabilities().limits
        found = [problems(item.fields, limits) for item in items]
        sent = [item for item, bad in zip(items, found, strict=True) if not bad]
        self.progress.wrote(len(items) - len(sent))  # refused here: nothing to wait for
        written: list[WriteResult] = []
        for batch in chunked(sent, self.host.capabilities().max_batch):
            written.extend(write(self.mailbox, batch))
            self.progress.wrote(len(batch))
        answers = iter(written)
        results = [
            WriteResult.failure(WriteErrorKind.INVALID, "; ".join(map(str, bad))) if bad else next(answers)
            for bad in found
        ]
        return results, found

    def _refuse(
        self, reservation: Reservation, link: Link, operation: str, result: WriteResult, found: list[Problem]
    ) -> None:
        """Keep the reservation out of the writes until it changes, and tell its organizer why."""
        assert reservation.id is not None
        key = (reservation.id, self.mailbox)
        if found:
            why = "; ".join(f"its {p.field} {p.reason}" for p in found)
            detail = (
                f"{operation} of reservation {reservation.id} in {self.mailbox} not sent: the connector of "
                f"environment {self.host.environment!r} declares limits it is beyond: "
                + "; ".join(map(str, found))
            )
        else:
            why = "the calendar server did not accept one of its values"
            detail = f"{operation} of reservation {reservation.id} in {self.mailbox} refused: {result.error}"
        self.links[key] = replace(
            link,
            state=LinkState.REFUSED,
            rooms_version=reservation.version,
            attempts=link.attempts + 1,
            last_error=detail,
        )
        self.report.refused += 1
        self._log("error", "refused", detail, reservation.id)
        title = readable(reservation.fields.title)
        zone = ZoneInfo(reservation.fields.timezone)
        start = reservation.fields.start.astimezone(zone).isoformat()
        self.notifications.append(
            Notification(
                kind=NotificationKind.NOT_WRITTEN,
                recipient=reservation.organizer,
                facts={"title": title, "start": start, "why": why, **problem_facts(found, zone)},
                reservation_id=reservation.id,
            )
        )
        self.notifications.append(
            Notification(
                kind=NotificationKind.WRITE_REFUSED,
                facts={"person": self.mailbox, "environment": self.host.environment, "detail": detail},
                reservation_id=reservation.id,
            )
        )

    # --- helpers -----------------------------------------------------------------------------

    def _read_back(self, stamp: str, fields: EventFields) -> Snapshot:
        return read_back(self.pm, self.mailbox, stamp, fields, self.groups)

    def _held(self, reservation: Reservation | None) -> Reservation | None:
        """The reservation with its groups' persons, as the view compared it."""
        if reservation is None or self.groups is None:
            return reservation
        held = self.groups.held(reservation.fields, reservation.organizer)
        return reservation if held is reservation.fields else reservation.model_copy(update={"fields": held})

    def _written(self, draft: EntryDraft) -> EntryDraft:
        """The draft with the groups or their persons, as ``[sync] groups`` writes them."""
        if self.groups is None:
            return draft
        return draft.model_copy(update={"fields": self.groups.written(draft.fields, self.mailbox)})

    def _stored_link(self, reservation_id: str, mailbox: str) -> Link | None:
        for link in self.uow.sync.links_for_reservation(reservation_id):
            if link.mailbox == mailbox:
                return link
        return None

    def _failed(self, reservation_id: str, operation: str, result: WriteResult) -> None:
        self.report.failed_writes += 1
        self._log(
            "error", operation, f"{operation} failed ({result.error_kind}): {result.error}", reservation_id
        )

    def _log(self, level: str, event: str, message: str, reservation_id: str | None = None) -> None:
        entry = LogEntry(now(), self.mailbox, level, event, message, reservation_id)
        self.uow.sync.log(entry)
        if level != "info" or event == "note":
            self.report.notes.append(message)


def readable(text: str, limit: int = 80) -> str:
    """A title as a message can show it: what cannot be printed dropped, cut to ``limit``."""
    shown = "".join(c if c.isprintable() else " " for c in text).strip()
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
