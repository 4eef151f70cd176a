"""SyncFolderItems of a mailbox's calendar with less client work per request.

An idle cycle is one SyncFolderItems per person answered with no changes, so what exchangelib
does again for every request is most of its cost. exchangelib writes the same SOAP header (the
impersonated mailbox, the time zone, the dialect) and the same folder and shape for every request
of an account; those parts are built once per account, by exchangelib, and copied for each
request. The answer's changes are read as ids: the request asks for ``IdOnly``, so an item holds
nothing else, and exchangelib would otherwise look for each of a calendar item's fields in it.
"""

from __future__ import annotations

import copy
import threading
import weakref
from functools import cache
from typing import Any

from exchangelib import CalendarItem
from exchangelib.folders import BaseFolder
from exchangelib.items import ID_ONLY
from exchangelib.properties import ItemId
from exchangelib.services import SyncFolderItems
from exchangelib.services.common import EWSAccountService, add_xml_child
from exchangelib.transport import DEFAULT_ENCODING
from exchangelib.util import create_element, to_xml, xml_to_str

_PLACEHOLDER = "m:RoomsyncPayload"

_lock = threading.Lock()
_envelopes: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
_folders: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _built(store: weakref.WeakKeyDictionary[Any, dict[Any, Any]], account: Any, key: Any, build: Any) -> Any:
    with _lock:
        found = store.get(account, {}).get(key)
    if found is None:
        found = build()
        with _lock:
            store.setdefault(account, {})[key] = found
    return found


class SameEnvelope(EWSAccountService):
    """A service whose SOAP envelope, apart from its payload, is built once per account and dialect.

    The envelope is exchangelib's own (``wrap``) around a placeholder, kept as a tree; a request
    copies it and puts its payload in the placeholder's place, so the bytes sent are those
    exchangelib writes. The header depends on nothing but the service, the account and the dialect.
    """

    def wrap(self, content: Any, api_version: Any = None) -> Any:
        def build() -> Any:
            return to_xml(super(SameEnvelope, self).wrap(create_element(_PLACEHOLDER), api_version)).getroot()

        envelope = copy.deepcopy(_built(_envelopes, self.account, (type(self), api_version), build))
        body = envelope[-1]
        body.replace(body[0], content)
        return xml_to_str(envelope, encoding=DEFAULT_ENCODING, xml_declaration=True)

    @classmethod
    @cache
    def supported_api_versions(cls) -> tuple[str, ...]:
        """exchangelib sorts every version it knows for each request; the answer never changes."""
        return tuple(super().supported_api_versions())


class CalendarChanges(SameEnvelope, SyncFolderItems):
    """SyncFolderItems of the account's calendar: shape and folder built once, changes read as ids.

    Creates and updates are answered as ``(kind, ItemId)`` for calendar items and ``(kind, None)``
    for items of another kind; deletes and read-flag changes as exchangelib answers them.
    """

    def call(
        self,
        folder: Any,
        shape: Any,
        additional_fields: Any,
        sync_state: Any,
        ignore: Any,
        max_changes_returned: Any,
        sync_scope: Any,
    ) -> Any:
        if shape != ID_ONLY or additional_fields:
            raise ValueError("CalendarChanges reads ids only (shape IdOnly, no additional fields)")
        return super().call(
            folder, shape, additional_fields, sync_state, ignore, max_changes_returned, sync_scope
        )

    def _partial_get_payload(self, folder: Any, shape: Any, additional_fields: Any, sync_state: Any) -> Any:
        if folder is not self.account.calendar:
            return super()._partial_get_payload(folder, shape, additional_fields, sync_state)

        def build() -> Any:
            return super(CalendarChanges, self)._partial_get_payload(folder, shape, additional_fields, None)

        payload = copy.deepcopy(_built(_folders, self.account, (shape, self.account.version), build))
        if sync_state:
            add_xml_child(payload, "m:SyncState", sync_state)
        return payload

    def _elem_to_obj(self, elem: Any) -> Any:
        change_type = self.change_types_map[elem.tag]
        if change_type not in (self.CREATE, self.UPDATE):
            return super()._elem_to_obj(elem)
        item = elem[0]
        if not issubclass(BaseFolder.item_model_from_tag(item.tag), CalendarItem):
            return change_type, None
        found = item.find(ItemId.response_tag())
        return change_type, ItemId() if found is None else ItemId.from_xml(elem=found, account=self.account)


__all__ = ["CalendarChanges", "SameEnvelope"]
