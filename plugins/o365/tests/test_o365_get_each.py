"""Batched reads by id: one GET per id, a 404 as gone, any other failure raised."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

import pytest

from roomsync_o365 import batch
from roomsync_o365.events import MailboxCalendar
from roomsync_o365.graph_client import READ_PREFER, GraphError, GraphResponse


class Answering(MailboxCalendar):
    """A calendar whose batches are answered from a list, recording the requests."""

    def __init__(self, answers: list[GraphResponse]) -> None:
        super().__init__(cast(Any, None), cast(Any, None), "Ada@Example.org", "UTC")
        self.answers = answers
        self.requests: list[batch.BatchRequest] = []

    def batch(self, requests: Sequence[batch.BatchRequest]) -> list[GraphResponse]:
        self.requests.extend(requests)
        return self.answers[: len(requests)]


def test_each_id_gets_its_answer_or_none_when_gone() -> None:
    calendar = Answering([GraphResponse(200, body={"id": "a", "changeKey": "k1"}), GraphResponse(404)])

    found = calendar.get_each({"a": "/users/ada/events/a", "b": "/users/ada/events/b"}, "reading event")

    assert found == {"a": {"id": "a", "changeKey": "k1"}, "b": None}
    assert [r.url for r in calendar.requests] == ["/users/ada/events/a", "/users/ada/events/b"]
    assert all(r.headers == (("Prefer", READ_PREFER),) for r in calendar.requests)


def test_a_failed_answer_names_what_was_done_and_the_mailbox() -> None:
    calendar = Answering([GraphResponse(500, body={"error": {"code": "boom", "message": "broken"}})])

    with pytest.raises(
        GraphError, match=re.escape("reading change keys of ada@example.org: 500 boom broken")
    ):
        calendar.get_each({"a": "/users/ada/events/a"}, "reading change keys", prefer=None)
    assert calendar.requests[0].headers == ()


def test_change_keys_are_read_once_per_id() -> None:
    calendar = Answering([GraphResponse(200, body={"id": "a", "changeKey": "k1"}), GraphResponse(404)])

    assert calendar.change_keys(["a", "b", "a"]) == {"a": "k1", "b": None}
    assert len(calendar.requests) == 2
    assert calendar.requests[0].headers == ()
