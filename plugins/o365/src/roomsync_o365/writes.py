"""Export: creating, replacing and deleting entries in one mailbox through ``$batch``.

* A create carries the ROOMS stamp and a ``transactionId`` (Exchange drops a repeated POST with
  the same id). Stamps are looked up before anything is written (unless the engine marked the
  draft ``known_new``), and a batch whose answer was lost (time-out, broken connection) is looked
  up again before only the missing entries are sent again with the same transaction ids: an
  entry is never made twice.
* A replacement is a PATCH guarded by ``If-Match`` with the change key, so a change made meanwhile
  in Outlook answers 412 and the result is ``STALE``.
* A series is written as its master; its exceptions are then made as drafted on the occurrences
  (``/instances``): moved or retitled ones patched, cancelled ones deleted, and exceptions ROOMS
  no longer has put back into the pattern.
* A decline (a room turning down a meeting as itself) is ``POST .../events/{id}/decline`` with
  ``sendResponse``, batched like the writes.
* Setup and follow-up buffers are written as companion entries beside the entry
  (:mod:`roomsync.connector.companions`), kept in line on every update and removed with it; a companion that
  cannot be written is logged, never the entry's failure.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from roomsync.connector.companions import (
    companion_drafts,
    companion_lookups,
    companion_stamps,
    is_companion,
    reconcile_companions,
)
from roomsync.connector.own_writes import WrittenEntries
from roomsync.connector.types import (
    EntryDraft,
    EntryUpdate,
    ItemRef,
    WriteErrorKind,
    WriteResult,
)
from roomsync.domain import EventFields
from roomsync_o365 import mapping
from roomsync_o365 import properties as props
from roomsync_o365.batch import BatchRequest
from roomsync_o365.errors import write_failure
from roomsync_o365.events import MailboxCalendar
from roomsync_o365.graph_client import GraphError, Unreachable

log = logging.getLogger(__name__)


def if_match(change_key: str) -> tuple[tuple[str, str], ...]:
    return (("If-Match", f'W/"{change_key}"'),)


class Writer:
    def __init__(self, calendar: MailboxCalendar, written: WrittenEntries | None = None) -> None:
        self.calendar = calendar
        self.written = written if written is not None else WrittenEntries(limit=0)

    def _remember(self, result: WriteResult, entry: EntryDraft | EntryUpdate) -> None:
        """An entry as written, so delta's echo of it needs no read.

        A series is known by its master's change key, which its plain occurrences carry; one with
        exceptions is read, since the exceptions' keys say nothing about the master."""
        if not entry.fields.occurrences:
            self.written.remember_write(self.calendar.mailbox, result, entry)

    # --- create ------------------------------------------------------------------------------

    def _stamped(self, stamps: Sequence[str]) -> dict[str, WriteResult]:
        """Entries this mailbox organises that already carry a stamp.

        An attendee's copy of the meeting carries the organizer's properties too; taken for the
        entry, it left a reservation handed to a former attendee without one of its own."""
        made: dict[str, WriteResult] = {}
        for entry in self.calendar.find_stamped(stamps):
            if entry.is_own and entry.stamp is not None and entry.stamp not in made:
                made[entry.stamp] = WriteResult.success(entry.item_id, entry.change_key)
        return made

    def create(self, drafts: Sequence[EntryDraft]) -> list[WriteResult]:
        """Create entries and their buffer companions; the entries' results."""
        extra = companion_drafts(drafts)
        results = self._create([*drafts, *extra])
        for draft, result in zip(extra, results[len(drafts) :], strict=True):
            if not result.ok:
                log.warning(
                    "buffer entry %s not written in %s: %s", draft.stamp, self.calendar.mailbox, result.error
                )
        return results[: len(drafts)]

    def _create(self, drafts: Sequence[EntryDraft]) -> list[WriteResult]:
        # Drafts the engine knows to be new cannot have an entry yet: no lookup for them.
        stamps = list(dict.fromkeys(d.stamp for d in drafts if not d.known_new))
        made = self._stamped(stamps) if stamps else {}
        missing: dict[str, EntryDraft] = {}
        for draft in drafts:
            if draft.stamp not in made:
                missing.setdefault(draft.stamp, draft)  # the same stamp twice in a batch: one entry
        transactions = {stamp: str(uuid.uuid4()) for stamp in missing}
        if missing:
            try:
                answers = self._post(missing, transactions)
            except Unreachable:
                # The batch may have been carried out before its answer was lost: never twice.
                for stamp, result in self._stamped(list(missing)).items():
                    if stamp in missing:
                        made[stamp] = result
                        del missing[stamp]
                answers = self._post(missing, transactions) if missing else {}
            series: list[tuple[str, EventFields]] = []
            for stamp, answer in answers.items():
                if answer.ok and isinstance(answer.body, dict) and answer.body.get("id"):
                    body = answer.body
                    made[stamp] = WriteResult.success(str(body["id"]), str(body.get("changeKey") or ""))
                    self._remember(made[stamp], missing[stamp])
                    if missing[stamp].fields.occurrences:
                        series.append((str(body["id"]), missing[stamp].fields))
                else:
                    made[stamp] = write_failure(answer)
            if series:
                self._refresh_keys(made, self.apply_occurrences(series))
        return [made[d.stamp] for d in drafts]

    def _post(self, drafts: dict[str, EntryDraft], transactions: dict[str, str]) -> dict[str, Any]:
        url = self.calendar.events_url()
        requests = [
            BatchRequest(
                "POST",
                url,
                body={
                    **mapping.to_event(d.fields, d.stamp, d.setup_minutes, d.followup_minutes),
                    "transactionId": transactions[stamp],
                },
            )
            for stamp, d in drafts.items()
        ]
        return dict(zip(drafts, self.calendar.batch(requests), strict=True))

    @staticmethod
    def _refresh_keys(results: dict[Any, WriteResult], keys: dict[str, str]) -> None:
        for key, result in list(results.items()):
            if result.ok and result.item_id in keys:
                results[key] = WriteResult.success(result.item_id, keys[result.item_id])

    # --- update ------------------------------------------------------------------------------

    def update(self, updates: Sequence[EntryUpdate]) -> list[WriteResult]:
        """Replace entries, then bring their buffer companions in line."""
        results = self._update(updates)
        self._update_companions([u for u, r in zip(updates, results, strict=True) if r.ok])
        return results

    def _update_companions(self, updates: Sequence[EntryUpdate]) -> None:
        """Rewrite, add or remove the buffer entries beside updated entries."""
        if not updates:
            return
        lookups = companion_lookups(updates)
        found = self.calendar.find_stamped(lookups) if lookups else []
        changes = reconcile_companions(updates, {e.stamp: e.item_id for e in found if e.stamp and e.is_own})
        removed = [ItemRef(item_id=item_id) for item_id in changes.delete]
        failed = [r for r in self._update(changes.update) if not r.ok] if changes.update else []
        failed += [r for r in self._create(changes.create) if not r.ok] if changes.create else []
        failed += [r for r in self._delete(removed) if not r.ok] if removed else []
        for result in failed:
            log.warning("buffer entry in %s not brought up to date: %s", self.calendar.mailbox, result.error)

    def _update(self, updates: Sequence[EntryUpdate]) -> list[WriteResult]:
        requests = [
            BatchRequest(
                "PATCH",
                self.calendar.event_url(u.item_id),
                body=mapping.to_event(u.fields, u.stamp, u.setup_minutes, u.followup_minutes),
                headers=if_match(u.change_key) if u.change_key else (),
            )
            for u in updates
        ]
        results: dict[int, WriteResult] = {}
        series: list[tuple[str, EventFields]] = []
        for n, (update, answer) in enumerate(zip(updates, self.calendar.batch(requests), strict=True)):
            if answer.ok and isinstance(answer.body, dict):
                results[n] = WriteResult.success(update.item_id, str(answer.body.get("changeKey") or ""))
                self._remember(results[n], update)
                if update.fields.recurrence is not None:
                    series.append((update.item_id, update.fields))
            else:
                results[n] = write_failure(answer, update.item_id)
        if series:
            self._refresh_keys(results, self.apply_occurrences(series))
        return [results[n] for n in range(len(updates))]

    # --- delete ------------------------------------------------------------------------------

    def delete(self, refs: Sequence[ItemRef]) -> list[WriteResult]:
        """Delete entries and their buffer companions; Exchange sends the meetings' cancellations."""
        stamps = [
            stamp
            for ref in refs
            if ref.stamp and not is_companion(ref.stamp)
            for stamp in companion_stamps(ref.stamp)
        ]
        extra = [
            ItemRef(item_id=e.item_id)
            for e in (self.calendar.find_stamped(stamps) if stamps else ())
            if e.is_own
        ]
        results = self._delete([*refs, *extra])
        for result in results[len(refs) :]:
            if not result.ok and result.error_kind is not WriteErrorKind.NOT_FOUND:
                log.warning("buffer entry in %s not removed: %s", self.calendar.mailbox, result.error)
        return results[: len(refs)]

    def _delete(self, refs: Sequence[ItemRef]) -> list[WriteResult]:
        requests = [BatchRequest("DELETE", self.calendar.event_url(r.item_id)) for r in refs]
        return [
            WriteResult.success(ref.item_id, "") if answer.ok else write_failure(answer, ref.item_id)
            for ref, answer in zip(refs, self.calendar.batch(requests), strict=True)
        ]

    # --- decline -----------------------------------------------------------------------------

    def decline(self, refs: Sequence[ItemRef], comment: str) -> list[WriteResult]:
        """Decline meetings as the mailbox itself, the organizer told with ``comment``.

        Graph answers 202 and removes the event from the calendar; an event that is gone is 404,
        and the mailbox's own meeting (it is the organizer) is refused with 400, ``INVALID``."""
        body = {"comment": comment, "sendResponse": True}
        requests = [
            BatchRequest("POST", self.calendar.event_url(r.item_id, "decline"), body=body) for r in refs
        ]
        results = []
        for ref, answer in zip(refs, self.calendar.batch(requests), strict=True):
            if answer.ok:
                self.written.forget(self.calendar.mailbox, ref.item_id)
                results.append(WriteResult.success(ref.item_id, ""))
            else:
                results.append(write_failure(answer, ref.item_id))
        return results

    # --- exceptions of series ----------------------------------------------------------------

    def apply_occurrences(self, series: Sequence[tuple[str, EventFields]]) -> dict[str, str]:
        """Make the occurrences of freshly written series as drafted; the masters' new change keys."""
        reach = {
            master_id: max(c.original_start for c in fields.occurrences).astimezone(UTC)
            for master_id, fields in series
            if fields.occurrences
        }
        masters = [{"id": master_id, **_master_shape(fields)} for master_id, fields in series]
        found = self.calendar.instances(masters, reach)
        requests: list[BatchRequest] = []
        for master_id, fields in series:
            if master_id not in found:
                continue
            requests.extend(self._occurrence_requests(fields, found[master_id][0]))
        if not requests:
            return {}
        for answer in self.calendar.batch(requests):
            if not answer.ok and answer.status != 404:  # 404: the occurrence was cancelled already
                raise GraphError(
                    f"writing an occurrence in {self.calendar.mailbox}: {answer.describe()}", answer
                )
        keys = self.calendar.change_keys(m for m, _ in series)
        return {item_id: key for item_id, key in keys.items() if key is not None}

    def _occurrence_requests(
        self, fields: EventFields, instances: Sequence[dict[str, Any]]
    ) -> list[BatchRequest]:
        by_original = {
            mapping.parse_instant(str(i["originalStart"])).astimezone(UTC): i
            for i in instances
            if i.get("originalStart")
        }
        wanted = {c.original_start.astimezone(UTC): c for c in fields.occurrences}
        duration = fields.duration
        requests = []
        for original, instance in by_original.items():
            change = wanted.get(original)
            if change is not None and change.cancelled:
                requests.append(BatchRequest("DELETE", self.calendar.event_url(str(instance["id"]))))
                continue
            if change is not None:
                assert change.start is not None and change.end is not None
                start, end, title = change.start, change.end, change.title or fields.title
            elif instance.get("type") == "exception":
                start, end, title = original, original + duration, fields.title  # back into the pattern
            else:
                continue
            if _matches(instance, start, end, title):
                continue
            requests.append(
                BatchRequest(
                    "PATCH",
                    self.calendar.event_url(str(instance["id"])),
                    body=mapping.occurrence_patch(start, end, title, fields.timezone),
                )
            )
        return requests


def _matches(instance: dict[str, Any], start: datetime, end: datetime, title: str) -> bool:
    try:
        return (
            mapping.parse_time(instance.get("start")) == start
            and mapping.parse_time(instance.get("end")) == end
            and (instance.get("subject") or "") == title
        )
    except ValueError:
        return False


def _master_shape(fields: EventFields) -> dict[str, Any]:
    """Enough of a master for :meth:`MailboxCalendar.instances` to know its series and zone."""
    event = mapping.to_event(fields, None)
    event["start"] = {
        "dateTime": fields.start.astimezone(UTC).replace(tzinfo=None).isoformat(),
        "timeZone": "UTC",
    }
    event["singleValueExtendedProperties"] = [{"id": props.TIMEZONE, "value": fields.timezone}]
    event["originalStartTimeZone"] = None
    return event
