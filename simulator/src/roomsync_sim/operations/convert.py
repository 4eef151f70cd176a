"""ConvertId, as far as clients need it to learn the server version.

exchangelib probes the server with a ConvertId of a dummy id; the answer's ``ServerVersionInfo``
is what matters. Converting real ids between formats comes with the directory operations.
"""

from __future__ import annotations

from lxml import etree

from roomsync_sim.context import Context
from roomsync_sim.operations import operation
from roomsync_sim.operations.common import item_ids
from roomsync_sim.soap import m, response_message


@operation("ConvertId")
def convert_id(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    for _ in item_ids(request.find(m("SourceIds"))):
        response_message(messages, "ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")
