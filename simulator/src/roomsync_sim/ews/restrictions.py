"""Evaluating a FindItem ``Restriction`` against an item (or an occurrence).

Comparisons follow the property's type: date-times as instants, numbers as numbers, booleans,
and strings case-insensitively (as Exchange compares them). A missing property matches nothing
but ``Not``/``Exists`` logic says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.properties import OccurrenceView, Path, parse_path, text_values
from roomsync_sim.soap import t
from roomsync_sim.store import Item
from roomsync_sim.timezones import parse_datetime

_PATHS = {"FieldURI", "ExtendedFieldURI", "IndexedFieldURI"}


def _coerce(a: str, b: str) -> tuple[object, object]:
    for conv in (_as_datetime, _as_number, _as_bool):
        try:
            return conv(a), conv(b)
        except (ValueError, TypeError):
            continue
    return a.casefold(), b.casefold()


def _as_datetime(v: str) -> datetime:
    if "T" not in v or len(v) < 16:
        raise ValueError(v)
    return parse_datetime(v)


def _as_number(v: str) -> float:
    return float(v)


def _as_bool(v: str) -> bool:
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise ValueError(v)


_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,  # type: ignore[operator]
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,  # type: ignore[operator]
    "IsLessThan": lambda a, b: a < b,  # type: ignore[operator]
    "IsLessThanOrEqualTo": lambda a, b: a <= b,  # type: ignore[operator]
}


def _path_of(elem: etree._Element) -> Path:
    for child in elem:
        if isinstance(child.tag, str) and etree.QName(child).localname in _PATHS:
            return parse_path(child)
    raise OperationError("ErrorInvalidRestriction", "The restriction names no property.")


def matches(expr: etree._Element, item: Item, ctx: Context, occ: OccurrenceView | None = None) -> bool:
    op = etree.QName(expr).localname
    children = [c for c in expr if isinstance(c.tag, str)]
    if op == "Restriction":
        return all(matches(c, item, ctx, occ) for c in children)
    if op == "And":
        return all(matches(c, item, ctx, occ) for c in children)
    if op == "Or":
        return any(matches(c, item, ctx, occ) for c in children)
    if op == "Not":
        return not matches(children[0], item, ctx, occ)
    if op == "Exists":
        return text_values(item, _path_of(expr), ctx, occ) is not None
    if op in _COMPARE:
        values = text_values(item, _path_of(expr), ctx, occ)
        if values is None:
            return False
        other = expr.find(t("FieldURIOrConstant"))
        if other is None or not len(other):
            raise OperationError("ErrorInvalidRestriction", "The comparison has no operand.")
        operand = other[0]
        if etree.QName(operand).localname == "Constant":
            right = [operand.get("Value") or ""]
        else:
            right = text_values(item, parse_path(operand), ctx, occ) or []
        compare = _COMPARE[op]
        return any(compare(*_coerce(v, r)) for v in values for r in right)
    if op == "Contains":
        values = text_values(item, _path_of(expr), ctx, occ)
        const = expr.find(t("Constant"))
        if values is None or const is None:
            return False
        needle = const.get("Value") or ""
        mode = expr.get("ContainmentMode") or "FullString"
        case = expr.get("ContainmentComparison") or "Exact"
        for v in values:
            a, b = (v, needle) if case == "Exact" else (v.casefold(), needle.casefold())
            if (
                (mode == "FullString" and a == b)
                or (mode == "Prefixed" and a.startswith(b))
                or (mode in ("Substring", "PrefixOnWords", "ExactPhrase") and b in a)
            ):
                return True
        return False
    raise OperationError("ErrorUnsupportedQueryFilter", f"The restriction {op} is not supported.")
