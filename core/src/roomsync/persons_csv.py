"""Reading persons from a CSV file, as administrators export them from a spreadsheet.

Spreadsheets write a UTF-8 byte order mark, use ``;`` where the decimal separator is a comma,
and leave blank lines and stray spaces; all of that is accepted. Everything else that is wrong is
reported per line, naming the file, the line and the column, so a file of hundreds of persons can
be fixed in one pass: a row with an error is left out, the other rows are still read.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from roomsync.domain import CONTROL_CHARACTER, MAILBOX_ADDRESS, ConflictPolicy, Language, Person
from roomsync.domain import address_problem as address_problem
from roomsync.errors import InvalidInput

if TYPE_CHECKING:
    from _csv import Reader as _Reader

COLUMNS = ("email", "name", "environment", "conflict_policy", "sync_enabled", "bookers", "language")
"""The columns a persons file may have, in the order a new file should use them."""

_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_BOOLEANS = "true, false, yes, no, 1, 0"
_POLICIES = ", ".join(policy.value for policy in ConflictPolicy)
_LANGUAGES = ", ".join(language.value for language in Language)

# Addresses within one bookers value: a spreadsheet quotes a value holding the file's delimiter.
_LIST_SEPARATORS = re.compile(r"[\s,;]+")


def decode_persons_csv(data: bytes, source: str) -> str:
    """The text of a persons file; a file that is not UTF-8 text is refused with what to do."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(f"{source}: is UTF-16 text; save it as 'CSV UTF-8' (or any UTF-8 CSV)")
    if b"\0" in data:
        raise InvalidInput(f"{source}: is a binary file, not CSV text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{source}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as 'CSV UTF-8' (or any UTF-8 CSV)"
        ) from None


@dataclass(frozen=True)
class RowError:
    """One problem in the file; ``message`` names the file and the line by itself."""

    line: int
    message: str
    column: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class PersonsCsvResult:
    """The persons read and the problems found.

    ``columns`` are the columns the file has: an import updating existing persons should change
    only those fields and keep the others.
    """

    persons: list[Person] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def _normal_column(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _delimiter(header: str) -> str:
    """``;`` or ``,``, decided on the header line, whose names never contain either."""
    try:
        return csv.Sniffer().sniff(header, delimiters=";,").delimiter
    except csv.Error:
        return ","


class _Problems:
    """The problems of one file, each message prefixed with the file and the line."""

    def __init__(self, source: str, errors: list[RowError]) -> None:
        self.source = source
        self.errors = errors

    def __call__(self, line: int, message: str, column: str | None = None) -> None:
        self.errors.append(
            RowError(line=line, message=f"{self.source} line {line}: {message}", column=column)
        )

    def __len__(self) -> int:
        return len(self.errors)


def parse_persons_csv(
    text: str,
    source: str,
    *,
    default_conflict_policy: ConflictPolicy = ConflictPolicy.ROLLBACK,
    environments: Collection[str] | None = None,
) -> PersonsCsvResult:
    """Read persons from the text of a CSV file named ``source`` (used in messages).

    ``default_conflict_policy`` fills an empty or absent ``conflict_policy``; with
    ``environments`` given, a row naming another environment is an error.
    """
    result = PersonsCsvResult()
    error = _Problems(source, result.errors)

    text = text.removeprefix("\ufeff")
    header_text = next((line for line in io.StringIO(text, newline="") if line.strip()), None)
    if header_text is None:
        error(1, f"the file is empty; the first line must name the columns, e.g. {','.join(COLUMNS)}")
        return result

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(header_text), strict=True)
    names = _read_header(reader, error)
    if names is None or result.errors:
        return result
    result.columns = tuple(name for name in names if name)

    first_seen: dict[str, int] = {}
    for line, cells in _data_rows(reader, error):
        if len(cells) > len(names):
            error(line, f"{len(cells)} values, but the header has {len(names)} columns")
            continue
        errors_before = len(error)
        values = _row_values(line, names, cells, error)
        email = _row_email(line, values, first_seen, error)
        environment = _row_environment(line, values, environments, error)
        policy = _row_policy(line, values, default_conflict_policy, error)
        sync_enabled = _row_sync_enabled(line, values, error)
        bookers = _row_bookers(line, values, error)
        language = _row_language(line, values, error)
        if len(error) == errors_before:
            result.persons.append(
                Person(
                    email=email,
                    name=values.get("name", ""),
                    environment=environment,
                    conflict_policy=policy,
                    sync_enabled=sync_enabled,
                    bookers=bookers,
                    language=language,
                )
            )
    return result


def _read_header(reader: _Reader, error: _Problems) -> list[str] | None:
    """The normalised column names of the first non-blank row, the header's problems reported;
    ``None`` when there is no header to go on with."""
    try:
        header = next(row for row in reader if any(cell.strip() for cell in row))
    except csv.Error as exc:
        error(reader.line_num, f"cannot read the header: {exc}")
        return None
    header_line = reader.line_num
    names = [_normal_column(cell) for cell in header]

    if "email" not in names and any("@" in cell for cell in header):
        error(
            header_line,
            f"no header; the first line must name the columns, e.g. {','.join(COLUMNS)} "
            "(this line looks like a person)",
        )
        return None
    _column_problems(header_line, header, names, error)
    return names


def _column_problems(line: int, header: list[str], names: list[str], error: _Problems) -> None:
    """A missing ``email`` column, unknown columns, columns given twice."""
    if "email" not in names:
        error(line, "the header has no 'email' column", "email")
    unknown = [cell.strip() for cell, name in zip(header, names, strict=True) if name and name not in COLUMNS]
    if unknown:
        listed = ", ".join(repr(cell) for cell in unknown)
        plural = "s" if len(unknown) > 1 else ""
        error(line, f"unknown column{plural} {listed}; expected {', '.join(COLUMNS)}")
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        error(line, f"column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} given twice")


def _data_rows(reader: _Reader, error: _Problems) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows after the header with the line each starts on, their cells stripped;
    a row the reader cannot read is reported and skipped."""
    end_of_previous = reader.line_num
    while True:
        line = end_of_previous + 1  # a quoted value may span lines; report where the row starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # broken quoting: the reader goes on with the next line
            hint = "; a quote opened here is never closed" if "end of data" in str(exc) else ""
            error(line, f"cannot read the row: {exc}{hint}")
            end_of_previous = reader.line_num
            continue
        end_of_previous = reader.line_num
        cells = [cell.strip() for cell in row]
        if any(cells):
            yield line, cells


def _row_values(line: int, names: list[str], cells: list[str], error: _Problems) -> dict[str, str]:
    """One row's values by column name; missing trailing values are empty, and a column without
    a name (a trailing delimiter in every line, as spreadsheets write them) must stay empty."""
    values: dict[str, str] = {}
    for number, (name, cell) in enumerate(zip(names, cells, strict=False), start=1):
        if not name:
            if cell:
                error(line, f"value {cell!r} in column {number}, which the header does not name")
        elif CONTROL_CHARACTER.search(cell):
            error(line, f"{name} contains a line break or another control character", name)
        values[name] = cell
    return values


def _row_email(line: int, values: dict[str, str], first_seen: dict[str, int], error: _Problems) -> str:
    """The row's address in lower case; an address seen on an earlier line is an error."""
    email = values.get("email", "").lower()
    if CONTROL_CHARACTER.search(email):
        pass  # reported with the other control characters in _row_values
    elif not email:
        error(line, "email is empty", "email")
    elif not MAILBOX_ADDRESS.fullmatch(email):
        error(line, f"email {values['email']!r} is not an e-mail address", "email")
    elif email in first_seen:
        error(line, f"email {email} is already on line {first_seen[email]}", "email")
    else:
        first_seen[email] = line
    return email


def _row_environment(
    line: int, values: dict[str, str], environments: Collection[str] | None, error: _Problems
) -> str | None:
    environment = values.get("environment") or None
    if environment is not None and environments is not None and environment not in environments:
        configured = ", ".join(sorted(environments)) or "none"
        error(
            line,
            f"environment {environment!r} is not in the configuration; configured: {configured}",
            "environment",
        )
    return environment


def _row_policy(
    line: int, values: dict[str, str], default: ConflictPolicy, error: _Problems
) -> ConflictPolicy:
    policy_text = values.get("conflict_policy", "").lower()
    if not policy_text:
        return default
    try:
        return ConflictPolicy(policy_text)
    except ValueError:
        error(
            line,
            f"conflict_policy {values['conflict_policy']!r} is not one of {_POLICIES}",
            "conflict_policy",
        )
        return default


def _row_sync_enabled(line: int, values: dict[str, str], error: _Problems) -> bool:
    sync_text = values.get("sync_enabled", "").lower()
    if sync_text in _FALSE:
        return False
    if sync_text and sync_text not in _TRUE:
        error(
            line,
            f"sync_enabled {values['sync_enabled']!r} is not one of {_BOOLEANS}",
            "sync_enabled",
        )
    return True


def _row_bookers(line: int, values: dict[str, str], error: _Problems) -> tuple[str, ...]:
    """The addresses of the row's bookers, separated by spaces, commas or semicolons; each wrong
    one is reported."""
    text = values.get("bookers", "")
    if CONTROL_CHARACTER.search(text):
        return ()  # reported with the other control characters in _row_values
    bookers = []
    for address in _LIST_SEPARATORS.split(text):
        if not address:
            continue
        if not MAILBOX_ADDRESS.fullmatch(address.lower()):
            error(line, f"bookers: {address!r} is not an e-mail address", "bookers")
        else:
            bookers.append(address.lower())
    return tuple(bookers)


def _row_language(line: int, values: dict[str, str], error: _Problems) -> Language | None:
    """The language of the person's mails; empty: the configured default."""
    text = values.get("language", "").strip().lower()
    if not text:
        return None
    try:
        return Language(text)
    except ValueError:
        error(line, f"language {values['language']!r} is not one of {_LANGUAGES} (or empty)", "language")
        return None
