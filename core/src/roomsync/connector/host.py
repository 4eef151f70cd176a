"""The host that calls one environment's connector through its hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol, cast

import pluggy

from roomsync import contract, hookspecs
from roomsync.connector.base import Connector, Wake, chunked
from roomsync.connector.directory import RoomList
from roomsync.connector.groups import Expansion, GroupMember, expand
from roomsync.connector.types import (
    CalendarEntry,
    Capabilities,
    ChangeSet,
    CheckStep,
    EntryDraft,
    EntryUpdate,
    FreeBusy,
    ItemRef,
    WriteResult,
)
from roomsync.errors import ConnectorError, Fault, PluginContractError, RoomsyncError
from roomsync.stamps import StampCodec

log = logging.getLogger("roomsync.connector")


class ConnectorHooks(Protocol):
    """The connector hooks as the host calls them through pluggy: keyword arguments only.

    The signatures are those of :mod:`roomsync.hookspecs`; a hook the connector does not
    implement answers ``None``, which the host turns into an empty answer where it can.
    """

    def roomsync_capabilities(self) -> Capabilities | None: ...
    def roomsync_check(self, *, mailbox: str) -> list[CheckStep] | None: ...
    def roomsync_create_entries(
        self, *, mailbox: str, drafts: list[EntryDraft]
    ) -> list[WriteResult] | None: ...
    def roomsync_update_entries(
        self, *, mailbox: str, updates: list[EntryUpdate]
    ) -> list[WriteResult] | None: ...
    def roomsync_delete_entries(self, *, mailbox: str, refs: list[ItemRef]) -> list[WriteResult] | None: ...
    def roomsync_decline_entries(
        self, *, mailbox: str, refs: list[ItemRef], comment: str
    ) -> list[WriteResult] | None: ...
    def roomsync_changes(self, *, mailbox: str, sync_state: str | None) -> ChangeSet: ...
    def roomsync_list_entries(
        self, *, mailbox: str, start: datetime, end: datetime
    ) -> list[CalendarEntry] | None: ...
    def roomsync_find_by_stamp(
        self, *, mailbox: str, stamps: list[str]
    ) -> dict[str, list[CalendarEntry]] | None: ...
    def roomsync_free_busy(
        self, *, mailboxes: list[str], start: datetime, end: datetime
    ) -> list[FreeBusy]: ...
    def roomsync_watch(self, *, mailboxes: list[str], wake: Wake) -> bool | None: ...
    def roomsync_expand_group(self, *, address: str) -> list[GroupMember] | None: ...
    def roomsync_room_directory(self, *, room_list: str | None) -> list[RoomList] | None: ...
    def roomsync_close(self) -> None: ...


class HostPluginManager(pluggy.PluginManager):
    """The plugin manager of one environment: its connector answers, extensions may only wrap.

    Every plugin registered besides the connector, also later through ``pm.register``, is held
    to the hook page's rules and refused (:class:`~roomsync.errors.PluginContractError`) if it
    breaks one, so no extension's answer ever stands in for the connector's.
    """

    def __init__(self, environment: str, connector: Connector) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.environment = environment
        self.connector = connector
        self.register(connector, name=f"connector:{environment}")

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        try:
            contract.check(self, plugin, connector=plugin is self.connector)
        except PluginContractError as exc:
            self.unregister(plugin)
            raise PluginContractError(f"environment {self.environment!r}: {exc}") from None
        return registered


class ConnectorHost:
    """One environment's connector behind its own plugin manager.

    Extension plugins registered here as well can wrap the connector hooks where the hook page
    allows it. Batches are cut to the connector's ``max_batch`` so connectors never see more than
    they declared. With ``stamps`` the host speaks reservation ids to its caller and this
    installation's stamps to the connector; without (the test kit), stamps pass unchanged.
    """

    def __init__(
        self,
        environment: str,
        connector: Connector,
        extensions: Iterable[tuple[str, object]] = (),
        stamps: StampCodec | None = None,
    ) -> None:
        """``extensions`` are (name, plugin) pairs, as ``PluginManager.list_name_plugin()`` lists them."""
        self.environment = environment
        self.connector = connector
        self.stamps = stamps
        self.pm = HostPluginManager(environment, connector)
        for name, extension in extensions:
            if extension is None or self.pm.is_registered(extension):  # None: a blocked name
                continue
            self.pm.register(extension, name=name)
        self._capabilities: Capabilities | None = None

    @property
    def hook(self) -> ConnectorHooks:
        """The environment's connector hooks, wrapped by its extensions where they may."""
        return cast(ConnectorHooks, self.pm.hook)

    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            answer = self.hook.roomsync_capabilities()
            self._capabilities = answer if answer is not None else Capabilities()
        return self._capabilities

    def check(self, mailbox: str) -> list[CheckStep]:
        return list(self.hook.roomsync_check(mailbox=mailbox) or [])

    def _batched(
        self, hook: Callable[..., list[WriteResult] | None], key: str, items: Sequence[Any], **kwargs: Any
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        for chunk in chunked(items, self.capabilities().max_batch):
            answer = hook(**kwargs, **{key: list(chunk)})
            if answer is None or len(answer) != len(chunk):
                raise ValueError(
                    f"connector of environment {self.environment!r} answered "
                    f"{0 if answer is None else len(answer)} results for {len(chunk)} items"
                )
            results.extend(answer)
        return results

    def _stamp(self, stamp: str) -> str:
        return stamp if self.stamps is None else self.stamps.encode(stamp)

    def _read(self, entries: Sequence[CalendarEntry]) -> list[CalendarEntry]:
        return list(entries) if self.stamps is None else self.stamps.entries(entries)

    def create_entries(self, mailbox: str, drafts: Sequence[EntryDraft]) -> list[WriteResult]:
        stamped = [d.model_copy(update={"stamp": self._stamp(d.stamp)}) for d in drafts]
        return self._batched(self.hook.roomsync_create_entries, "drafts", stamped, mailbox=mailbox)

    def update_entries(self, mailbox: str, updates: Sequence[EntryUpdate]) -> list[WriteResult]:
        stamped = [u.model_copy(update={"stamp": self._stamp(u.stamp)}) for u in updates]
        return self._batched(self.hook.roomsync_update_entries, "updates", stamped, mailbox=mailbox)

    def delete_entries(self, mailbox: str, refs: Sequence[ItemRef]) -> list[WriteResult]:
        stamped = [
            r if r.stamp is None else r.model_copy(update={"stamp": self._stamp(r.stamp)}) for r in refs
        ]
        return self._batched(self.hook.roomsync_delete_entries, "refs", stamped, mailbox=mailbox)

    def decline_entries(self, mailbox: str, refs: Sequence[ItemRef], comment: str) -> list[WriteResult]:
        """Decline meetings as ``mailbox`` (a room); a connector without the hook cannot."""
        if not refs:
            return []
        if not self.pm.hook.roomsync_decline_entries.get_hookimpls():
            raise ConnectorError(
                f"environment {self.environment!r} cannot decline meetings: its connector "
                f"({type(self.connector).__name__}) has no roomsync_decline_entries",
                fault=Fault.CONFIGURATION,
            )
        return self._batched(
            self.hook.roomsync_decline_entries, "refs", list(refs), mailbox=mailbox, comment=comment
        )

    def changes(self, mailbox: str, sync_state: str | None) -> ChangeSet:
        result: ChangeSet = self.hook.roomsync_changes(mailbox=mailbox, sync_state=sync_state)
        if self.stamps is None:
            return result
        return result.model_copy(
            update={
                "entries": tuple(self._read(result.entries)),
                "unchanged": tuple(self._echo(ref) for ref in result.unchanged),
            }
        )

    def _echo(self, ref: ItemRef) -> ItemRef:
        """An echo's stamp as a reservation id of this installation, else none."""
        if ref.stamp is None or self.stamps is None:
            return ref
        reservation_id, _owner = self.stamps.decode(ref.stamp)
        return ref if reservation_id == ref.stamp else ref.model_copy(update={"stamp": reservation_id})

    def list_entries(self, mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
        return self._read(self.hook.roomsync_list_entries(mailbox=mailbox, start=start, end=end) or [])

    def find_by_stamp(self, mailbox: str, stamps: Sequence[str]) -> dict[str, list[CalendarEntry]]:
        """Entries by the stamps asked for (reservation ids when the host has a codec)."""
        wanted = {
            stamp: [stamp] if self.stamps is None else self.stamps.lookups(stamp)
            for stamp in dict.fromkeys(stamps)
        }
        asked = {raw: stamp for stamp, raws in wanted.items() for raw in raws}
        found: dict[str, list[CalendarEntry]] = {}
        for chunk in chunked(list(asked), self.capabilities().max_batch):
            answer = self.hook.roomsync_find_by_stamp(mailbox=mailbox, stamps=list(chunk)) or {}
            for raw, entries in answer.items():
                if raw in asked:
                    found.setdefault(asked[raw], []).extend(self._read(entries))
        return found

    def free_busy(self, mailboxes: Sequence[str], start: datetime, end: datetime) -> list[FreeBusy]:
        """Free/busy in chunks of the connector's ``max_freebusy_mailboxes``, asked at once (up to
        its ``max_concurrency``), so many mailboxes take about one round trip; answers in order."""
        capabilities = self.capabilities()
        chunks = [list(chunk) for chunk in chunked(mailboxes, capabilities.max_freebusy_mailboxes)]

        def ask(chunk: list[str]) -> list[FreeBusy]:
            return list(self.hook.roomsync_free_busy(mailboxes=chunk, start=start, end=end))

        if len(chunks) <= 1 or capabilities.max_concurrency <= 1:
            return [answer for chunk in chunks for answer in ask(chunk)]
        workers = min(len(chunks), capabilities.max_concurrency)
        with ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"free/busy {self.environment}"
        ) as pool:
            answered = list(pool.map(ask, chunks))  # the first failure is raised, as one after another
        return [answer for answers in answered for answer in answers]

    def watch(self, mailboxes: Sequence[str], wake: Wake) -> bool:
        """Ask the connector to watch ``mailboxes`` (replacing its watch); ``False``: it cannot.

        A connector without the hook cannot. ``wake`` reaches the connector guarded: addresses in
        lower case, and a failure inside it is logged rather than ending the connector's watcher.
        """

        def guarded(woken: list[str]) -> None:
            try:
                wake(sorted({m.strip().lower() for m in woken}))
            except Exception:
                log.exception("handling a wake from environment %s failed", self.environment)

        wanted = list(dict.fromkeys(m.strip().lower() for m in mailboxes))
        try:
            answer = self.hook.roomsync_watch(mailboxes=wanted, wake=guarded)
        except RoomsyncError:
            raise
        except Exception as exc:
            raise ConnectorError(
                f"connector of environment {self.environment!r} could not watch {len(wanted)} "
                f"mailboxes: {type(exc).__name__}: {exc}",
                fault=Fault.INTERNAL,  # the connector broke its contract
            ) from exc
        return bool(answer)

    def room_directory(self, room_list: str | None = None) -> list[RoomList]:
        """The environment's room lists with their rooms (``room_list``: that list alone).

        A connector without the hook cannot list rooms: a :class:`ConnectorError` says so.
        """
        answer = self.hook.roomsync_room_directory(
            room_list=room_list.strip().lower() if room_list is not None else None
        )
        if answer is None:
            raise ConnectorError(
                f"environment {self.environment!r} cannot list rooms: its connector "
                f"({type(self.connector).__name__}) reads no room directory; add rooms with "
                "'roomsync rooms add'",
                fault=Fault.CONFIGURATION,
            )
        return list(answer)

    def expand_group(
        self,
        address: str,
        *,
        depth: int,
        size: int,
        cache: MutableMapping[str, list[GroupMember] | None],
    ) -> Expansion | None:
        """The persons of a distribution group through its nested groups; ``None``: no group.

        ``cache`` holds the connector's one-level answers; the engine keeps one per cycle. A
        connector without :func:`~roomsync.hookspecs.roomsync_expand_group` knows no groups.
        """

        def lookup(group: str) -> list[GroupMember] | None:
            answer = self.hook.roomsync_expand_group(address=group)
            return None if answer is None else list(answer)

        return expand(lookup, address, depth=depth, size=size, cache=cache)

    def close(self) -> None:
        self.hook.roomsync_close()
