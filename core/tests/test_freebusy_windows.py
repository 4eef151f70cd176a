"""Free/busy windows: refused before asking, cut to a connector's maximum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomsync.connector.windows import require_window, split_window

START = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_window_within_the_maximum_is_one_piece() -> None:
    assert split_window(START, START + 42 * DAY, 42 * DAY) == [(START, START + 42 * DAY)]


def test_a_longer_window_is_cut_into_consecutive_pieces() -> None:
    pieces = split_window(START, START + 100 * DAY, 42 * DAY)

    assert pieces == [
        (START, START + 42 * DAY),
        (START + 42 * DAY, START + 84 * DAY),
        (START + 84 * DAY, START + 100 * DAY),
    ]


def test_an_empty_window_has_no_pieces_and_a_piece_needs_a_length() -> None:
    assert split_window(START, START, DAY) == []
    assert split_window(START, START - DAY, DAY) == []
    with pytest.raises(ValueError):
        split_window(START, START + DAY, timedelta(0))


def test_naive_times_and_empty_windows_are_refused() -> None:
    require_window(START, START + DAY)
    with pytest.raises(ValueError, match="start must carry a time zone offset"):
        require_window(START.replace(tzinfo=None), START + DAY)
    with pytest.raises(ValueError, match="end must carry a time zone offset"):
        require_window(START, (START + DAY).replace(tzinfo=None))
    with pytest.raises(ValueError, match="before or when it starts"):
        require_window(START, START)


def test_pieces_are_joined_one_answer_per_mailbox_each_time_once() -> None:
    from roomsync.connector.windows import joined
    from roomsync.domain import ShowAs

    late = (START + 2 * DAY, START + 3 * DAY, ShowAs.OOF)
    early = (START, START + DAY, ShowAs.BUSY)
    answers = joined(
        ["ada@example.org", "bob@example.org"],
        {"ada@example.org": {late, early}, "bob@example.org": set()},
        {"bob@example.org": "ErrorMailRecipientNotFound"},
    )

    ada, bob = answers
    assert ada.mailbox == "ada@example.org" and ada.error is None
    assert [(i.start, i.end, i.status) for i in ada.intervals] == [early, late]
    assert bob.intervals == () and bob.error == "ErrorMailRecipientNotFound"
