"""A seed of the wrong shape is refused with the section it names, never with a traceback."""

import pytest

from roomsync_sim.seed import SeedError, parse_seed


@pytest.mark.parametrize("section", ["users", "rooms", "distribution_lists", "room_lists", "grants"])
@pytest.mark.parametrize("value", ["nobody", {"smtp": "a@example.org"}, ["a@example.org"]])
def test_a_section_that_is_not_a_list_of_tables_is_named(section: str, value: object) -> None:
    with pytest.raises(SeedError, match=rf"^{section}: must be a list of tables"):
        parse_seed({section: value})


def test_an_address_given_twice_is_named_with_its_place() -> None:
    seed = {"users": [{"smtp": "ada@example.org"}], "rooms": [{"smtp": "ADA@example.org"}]}
    with pytest.raises(SeedError, match=r"^rooms\[0\]: ada@example.org appears twice"):
        parse_seed(seed)


PEOPLE = {"users": [{"smtp": "ada@example.org"}], "rooms": [{"smtp": "room.1@example.org"}]}


def test_lists_may_nest_in_a_loop_and_name_later_lists() -> None:
    seed = parse_seed(
        {
            **PEOPLE,
            "distribution_lists": [
                {"smtp": "a@example.org", "members": ["ada@example.org", "b@example.org"]},
                {"smtp": "b@example.org", "name": "B", "members": ["a@example.org", "b@example.org"]},
            ],
        }
    )
    assert [(g.smtp, g.name, g.members) for g in seed.groups] == [
        ("a@example.org", "a", ["ada@example.org", "b@example.org"]),
        ("b@example.org", "B", ["a@example.org", "b@example.org"]),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"members": "ada@example.org"}, r"^distribution_lists\[0\]: 'members' must be a list of addresses"),
        ({"members": [1]}, r"^distribution_lists\[0\]: 'members' must be a list of addresses"),
        (
            {"members": ["nobody@example.org"]},
            r"^distribution_lists\[0\]: unknown member 'nobody@example.org'",
        ),
        ({"name": 7}, r"^distribution_lists\[0\]: 'name' must be a string"),
    ],
)
def test_a_bad_list_is_named(entry: dict[str, object], message: str) -> None:
    with pytest.raises(SeedError, match=message):
        parse_seed({**PEOPLE, "distribution_lists": [{"smtp": "a@example.org", **entry}]})


def test_a_room_list_holds_rooms_only() -> None:
    seed = {
        **PEOPLE,
        "room_lists": [{"smtp": "b@example.org", "rooms": ["room.1@example.org", "ada@example.org"]}],
    }
    with pytest.raises(SeedError, match=r"^room_lists\[0\]: ada@example.org is not a room"):
        parse_seed(seed)


def test_a_room_place_is_checked() -> None:
    room = {
        "smtp": "room.1@example.org",
        "place": {"capacity": 8, "building": "A", "is_wheelchair_accessible": True},
    }
    [parsed] = [u for u in parse_seed({"rooms": [room]}).users]
    assert parsed.place is not None and (parsed.place.capacity, parsed.place.booking_type) == (8, "standard")
    for place, message in [
        ({"seats": 8}, r"unknown keys \['seats'\]"),
        ({"capacity": "8"}, "capacity must be a whole number"),
        ({"capacity": True}, "capacity must be a whole number"),
        ({"is_wheelchair_accessible": 1}, "is_wheelchair_accessible must be true or false"),
        ({"booking_type": "vip"}, "booking_type must be standard or reserved"),
    ]:
        with pytest.raises(SeedError, match=rf"^rooms\[0\]\.place: {message}"):
            parse_seed({"rooms": [{"smtp": "room.1@example.org", "place": place}]})
