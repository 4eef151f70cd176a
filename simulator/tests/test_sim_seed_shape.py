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
