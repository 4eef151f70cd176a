"""Reading persons from CSV files as spreadsheets write them, and reporting what is wrong."""

from __future__ import annotations

import pytest

from roomsync.domain import ConflictPolicy, Language, Person
from roomsync.persons_csv import COLUMNS, PersonsCsvResult, RowError, parse_persons_csv


def parse(text: str, **kwargs: object) -> PersonsCsvResult:
    return parse_persons_csv(text, "persons.csv", **kwargs)  # type: ignore[arg-type]


def messages(result: PersonsCsvResult) -> list[str]:
    return [error.message for error in result.errors]


# --- what is accepted -----------------------------------------------------------------------


def test_all_columns() -> None:
    result = parse(
        "email,name,environment,conflict_policy,sync_enabled,bookers,language\n"
        "ada@example.org,Ada Lovelace,onprem,cancel,no,bob@example.org,fr\n"
        "Bob@Example.ORG,Bob,online,exchange-wins,TRUE,,\n"
    )

    assert result.ok
    assert result.columns == COLUMNS
    assert result.persons == [
        Person(
            email="ada@example.org",
            name="Ada Lovelace",
            environment="onprem",
            conflict_policy=ConflictPolicy.CANCEL,
            sync_enabled=False,
            bookers=("bob@example.org",),
            language=Language.FR,
        ),
        Person(
            email="bob@example.org",
            name="Bob",
            environment="online",
            conflict_policy=ConflictPolicy.EXCHANGE_WINS,
            sync_enabled=True,
        ),
    ]


def test_only_email_is_required_and_defaults_apply() -> None:
    result = parse("email\nada@example.org\n")

    assert result.ok
    assert result.columns == ("email",)
    assert result.persons == [Person(email="ada@example.org")]
    person = result.persons[0]
    assert (person.name, person.environment, person.conflict_policy, person.sync_enabled) == (
        "",
        None,
        ConflictPolicy.ROLLBACK,
        True,
    )


def test_bookers_are_separated_by_spaces_commas_or_semicolons() -> None:
    result = parse(
        "email,bookers\n"
        'ada@example.org,"Bob@Example.org, carl@example.org;dora@example.org  bob@example.org"\n'
        "carl@example.org,dora@example.org\n"
        "dora@example.org,\n"
    )

    assert result.ok
    assert [(p.email, p.bookers) for p in result.persons] == [
        ("ada@example.org", ("bob@example.org", "carl@example.org", "dora@example.org")),
        ("carl@example.org", ("dora@example.org",)),
        ("dora@example.org", ()),
    ]


def test_bookers_in_a_semicolon_file_are_quoted_or_separated_by_commas() -> None:
    result = parse(
        "email;bookers\n"
        'ada@example.org;"bob@example.org; carl@example.org"\n'
        "carl@example.org;bob@example.org,dora@example.org\n"
    )

    assert result.ok
    assert [p.bookers for p in result.persons] == [
        ("bob@example.org", "carl@example.org"),
        ("bob@example.org", "dora@example.org"),
    ]


def test_a_wrong_booker_names_line_and_column_and_leaves_only_that_row_out() -> None:
    result = parse(
        "email,bookers\n"
        'ada@example.org,"bob@example.org, bob-at-example.org, @example.org"\n'
        "carl@example.org,dora@example.org\n"
    )

    assert [p.email for p in result.persons] == ["carl@example.org"]
    assert result.errors == [
        RowError(
            line=2,
            column="bookers",
            message="persons.csv line 2: bookers: 'bob-at-example.org' is not an e-mail address",
        ),
        RowError(
            line=2,
            column="bookers",
            message="persons.csv line 2: bookers: '@example.org' is not an e-mail address",
        ),
    ]


def test_empty_optional_values_take_the_defaults() -> None:
    result = parse(
        "email,name,environment,conflict_policy,sync_enabled\nada@example.org,,,,\nbob@example.org\n",
        default_conflict_policy=ConflictPolicy.CANCEL,
    )

    assert result.ok
    assert [(p.environment, p.conflict_policy, p.sync_enabled) for p in result.persons] == [
        (None, ConflictPolicy.CANCEL, True),
        (None, ConflictPolicy.CANCEL, True),
    ]


def test_semicolons_bom_blank_lines_spaces_and_windows_line_ends() -> None:
    text = (
        "\ufeff Email ; Name ; Conflict_Policy \r\n"
        "\r\n"
        "  ada@example.org ;  Lovelace, Ada  ; Rollback \r\n"
        " ; ; \r\n"
        "bob@example.org;Bob;cancel\r\n"
    )
    result = parse(text)

    assert result.ok, messages(result)
    assert [(p.email, p.name, p.conflict_policy) for p in result.persons] == [
        ("ada@example.org", "Lovelace, Ada", ConflictPolicy.ROLLBACK),
        ("bob@example.org", "Bob", ConflictPolicy.CANCEL),
    ]


def test_commas_inside_quotes_with_comma_delimiter() -> None:
    result = parse('email,name\nada@example.org,"Lovelace, Ada"\n')

    assert result.persons == [Person(email="ada@example.org", name="Lovelace, Ada")]


def test_semicolon_file_with_commas_in_values() -> None:
    result = parse("email;name;environment\nada@example.org;Lovelace, Ada;onprem\n")

    assert result.ok
    assert result.persons[0].name == "Lovelace, Ada"
    assert result.persons[0].environment == "onprem"


@pytest.mark.parametrize(("text", "expected"), [("yes", True), ("1", True), ("No", False), ("0", False)])
def test_sync_enabled_spellings(text: str, expected: bool) -> None:
    result = parse(f"email,sync_enabled\nada@example.org,{text}\n")

    assert result.persons[0].sync_enabled is expected


def test_trailing_delimiter_from_a_spreadsheet_is_ignored() -> None:
    result = parse("email;name;\nada@example.org;Ada;\nbob@example.org;Bob\n")

    assert result.ok
    assert result.columns == ("email", "name")
    assert [p.email for p in result.persons] == ["ada@example.org", "bob@example.org"]


def test_doubled_quotes_inside_a_quoted_value() -> None:
    result = parse('email,name\nada@example.org,"Ada ""The Countess"" Lovelace"\n')

    assert result.persons[0].name == 'Ada "The Countess" Lovelace'


# --- what is reported -----------------------------------------------------------------------


def test_bad_conflict_policy_names_file_line_and_choices() -> None:
    result = parse(
        "email,conflict_policy\n"
        "ada@example.org,rollback\n"
        "bob@example.org,cancel\n"
        "carl@example.org,later\n"
        "dora@example.org,exchange-wins\n"
    )

    assert result.errors == [
        RowError(
            line=4,
            column="conflict_policy",
            message="persons.csv line 4: "
            "conflict_policy 'later' is not one of rollback, cancel, exchange-wins",
        )
    ]
    assert str(result.errors[0]) == result.errors[0].message
    assert [p.email for p in result.persons] == ["ada@example.org", "bob@example.org", "dora@example.org"]


@pytest.mark.parametrize(("text", "expected"), [("de", Language.DE), (" IT ", Language.IT), ("", None)])
def test_language_is_one_of_the_mail_languages_or_empty(text: str, expected: Language | None) -> None:
    result = parse(f"email;language\nada@example.org;{text}\n")

    assert result.ok
    assert result.persons[0].language == expected


def test_bad_language_names_file_line_column_and_choices_and_leaves_only_that_row_out() -> None:
    result = parse("email,language\nada@example.org,en\nbob@example.org,deutsch\n")

    assert result.errors == [
        RowError(
            line=3,
            column="language",
            message="persons.csv line 3: language 'deutsch' is not one of de, fr, it, en (or empty)",
        )
    ]
    assert [person.email for person in result.persons] == ["ada@example.org"]


def test_bad_sync_enabled() -> None:
    result = parse("email,sync_enabled\nada@example.org,maybe\n")

    assert result.persons == []
    assert messages(result) == [
        "persons.csv line 2: sync_enabled 'maybe' is not one of true, false, yes, no, 1, 0"
    ]
    assert result.errors[0].column == "sync_enabled"


@pytest.mark.parametrize(
    "address", ["ada", "ada@", "@example.org", "ada@example", "a b@example.org", "a@b@c.org"]
)
def test_invalid_email(address: str) -> None:
    result = parse(f"email,name\n{address},Ada\n")

    assert result.persons == []
    assert messages(result) == [f"persons.csv line 2: email {address!r} is not an e-mail address"]
    assert result.errors[0].column == "email"


def test_empty_email() -> None:
    result = parse("email,name\n,Ada\n")

    assert messages(result) == ["persons.csv line 2: email is empty"]


def test_short_row_without_its_email() -> None:
    result = parse("name,email\nAda\n")

    assert result.persons == []
    assert messages(result) == ["persons.csv line 2: email is empty"]


def test_duplicate_email_names_the_first_line() -> None:
    result = parse("email,name\nada@example.org,Ada\n\nbob@example.org,Bob\nADA@example.org,Ada again\n")

    assert [p.name for p in result.persons] == ["Ada", "Bob"]
    assert result.errors == [
        RowError(
            line=5, column="email", message="persons.csv line 5: email ada@example.org is already on line 2"
        )
    ]


def test_every_problem_of_a_row_is_reported() -> None:
    result = parse("email,conflict_policy,sync_enabled\nada,later,perhaps\n")

    assert [e.column for e in result.errors] == ["email", "conflict_policy", "sync_enabled"]
    assert all(e.line == 2 for e in result.errors)
    assert result.persons == []


def test_too_many_values() -> None:
    result = parse("email,name\nada@example.org,Ada,extra\n")

    assert messages(result) == ["persons.csv line 2: 3 values, but the header has 2 columns"]


def test_value_under_an_unnamed_column() -> None:
    result = parse("email;name;\nada@example.org;Ada;oops\n")

    assert messages(result) == [
        "persons.csv line 2: value 'oops' in column 3, which the header does not name"
    ]


def test_unknown_columns_name_them_and_the_expected_ones() -> None:
    result = parse("email,Name,policy,enabled\nada@example.org,Ada,cancel,yes\n")

    assert result.persons == []
    assert messages(result) == [
        "persons.csv line 1: unknown columns 'policy', 'enabled'; "
        "expected email, name, environment, conflict_policy, sync_enabled, bookers, language"
    ]


def test_column_given_twice() -> None:
    result = parse("email,name,Name\nada@example.org,Ada,Ada\n")

    assert messages(result) == ["persons.csv line 1: column name given twice"]


def test_missing_header() -> None:
    result = parse("\n\nada@example.org,Ada\nbob@example.org,Bob\n")

    assert result.persons == []
    assert messages(result) == [
        "persons.csv line 3: no header; the first line must name the columns, "
        "e.g. email,name,environment,conflict_policy,sync_enabled,bookers,language "
        "(this line looks like a person)"
    ]


def test_header_without_email_column() -> None:
    result = parse("mail,name\nada@example.org,Ada\n")

    assert result.persons == []
    assert messages(result) == [
        "persons.csv line 1: the header has no 'email' column",
        "persons.csv line 1: unknown column 'mail'; "
        "expected email, name, environment, conflict_policy, sync_enabled, bookers, language",
    ]


@pytest.mark.parametrize("text", ["", "\ufeff", "\n \n\t\n"])
def test_empty_file(text: str) -> None:
    result = parse(text)

    assert result.persons == []
    assert [(e.line, e.message) for e in result.errors] == [
        (
            1,
            "persons.csv line 1: the file is empty; the first line must name the columns, "
            "e.g. email,name,environment,conflict_policy,sync_enabled,bookers,language",
        )
    ]


def test_unconfigured_environment_when_environments_are_given() -> None:
    result = parse(
        "email,environment\nada@example.org,onprem\nbob@example.org,elsewhere\ncarl@example.org,\n",
        environments={"onprem", "online"},
    )

    assert [p.email for p in result.persons] == ["ada@example.org", "carl@example.org"]
    assert result.errors == [
        RowError(
            line=3,
            column="environment",
            message="persons.csv line 3: environment 'elsewhere' is not in the configuration; "
            "configured: online, onprem",
        )
    ]


def test_a_line_break_inside_quotes_is_an_error_and_later_lines_keep_their_numbers() -> None:
    result = parse('email,name\nada@example.org,"Ada\nLovelace"\nnot-an-address,Bob\ncarl@example.org,Carl\n')

    assert [p.email for p in result.persons] == ["carl@example.org"]
    assert [(e.line, e.column) for e in result.errors] == [(2, "name"), (4, "email")]
    assert (
        result.errors[0].message
        == "persons.csv line 2: name contains a line break or another control character"
    )


def test_control_characters_are_refused() -> None:
    result = parse("email,name\nada@example.org,Ada\x00Lovelace\n")

    assert result.persons == []
    assert [(e.line, e.column) for e in result.errors] == [(2, "name")]


def test_broken_quoting_skips_only_that_row() -> None:
    result = parse('email,name\nada@example.org,"Ada"Lovelace\nbob@example.org,Bob\n')

    assert [p.email for p in result.persons] == ["bob@example.org"]
    assert messages(result) == ["persons.csv line 2: cannot read the row: ',' expected after '\"'"]


def test_unclosed_quote_is_reported_where_it_opens() -> None:
    result = parse('email,name\nada@example.org,Ada\nbob@example.org,"Bob\ncarl@example.org,Carl\n')

    assert [p.email for p in result.persons] == ["ada@example.org"]
    assert messages(result) == [
        "persons.csv line 3: cannot read the row: unexpected end of data; a quote opened here is never closed"
    ]


def test_source_name_is_used_as_given() -> None:
    result = parse_persons_csv("email\nnope\n", "/srv/import/staff.csv")

    assert messages(result) == ["/srv/import/staff.csv line 2: email 'nope' is not an e-mail address"]
