"""Plugins written against the former ``roomsync.model`` still import, with a warning."""

import importlib
import sys

import pytest


def test_the_former_model_module_warns_and_gives_the_same_classes() -> None:
    sys.modules.pop("roomsync.model", None)
    with pytest.warns(DeprecationWarning, match="roomsync.domain"):
        model = importlib.import_module("roomsync.model")
    from roomsync.connector import CalendarEntry
    from roomsync.domain import Reservation

    assert model.CalendarEntry is CalendarEntry
    assert model.Reservation is Reservation
