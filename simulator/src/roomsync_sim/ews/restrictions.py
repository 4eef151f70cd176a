"""Evaluating a FindItem ``Restriction`` against an item (or an occurrence).

Comparisons follow the property's type, as the newest schema (or an extended property's
``PropertyType``) gives it: date-times as instants, numbers as numbers, booleans as xs:boolean
(``1``/``0`` and ``true``/``false``), enumerations by their order (which is the order of their
MAPI values: Low < Normal < High, Free < Tentative < Busy < OOF < WorkingElsewhere), strings
case-insensitively (as Exchange compares them). A multi-valued property (``item:Categories``,
array extended properties) satisfies a comparison or a ``Contains`` when one of its values does.
A missing property satisfies no comparison; ``Exists`` and ``Not`` say otherwise.
FindItem's ``SortOrder`` orders by the same typed values (:func:`sort_value`).
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/restriction
"""

from __future__ import annotations

import functools
import pathlib
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.properties import OccurrenceView, Path, parse_path, value_elements
from roomsync_sim.soap import t
from roomsync_sim.store import Item
from roomsync_sim.timezones import parse_datetime

_PATHS = {"FieldURI", "ExtendedFieldURI", "IndexedFieldURI"}
_XS = "{http://www.w3.org/2001/XMLSchema}"
# The item types whose elements a restriction names (the first type naming an element wins).
_ITEM_TYPES = ("ItemType", "CalendarItemType", "MessageType", "TaskType", "ContactItemType", "PostItemType")
_XS_KINDS = {
    "xs:dateTime": "datetime",
    "xs:int": "number",
    "xs:long": "number",
    "xs:short": "number",
    "xs:double": "number",
    "xs:float": "number",
    "xs:decimal": "number",
    "xs:boolean": "bool",
    "xs:base64Binary": "binary",
}
# An extended property's PropertyType (the Array variants name the type of each value).
_EXT_KINDS = {
    "SystemTime": "datetime",
    "ApplicationTime": "number",
    "Integer": "number",
    "Long": "number",
    "Short": "number",
    "Double": "number",
    "Float": "number",
    "Currency": "number",
    "Boolean": "bool",
    "Binary": "binary",
}


@functools.cache
def _schema() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """The newest schema's item elements (name to type) and enumerations (type to values)."""
    types = pathlib.Path(__file__).parent.parent / "schemas" / "exchange2016" / "types.xsd"
    tree = etree.parse(str(types), etree.XMLParser(resolve_entities=False, no_network=True))
    elements: dict[str, str] = {}
    for type_name in _ITEM_TYPES:
        for complex_type in tree.iter(f"{_XS}complexType"):
            if complex_type.get("name") != type_name:
                continue
            for e in complex_type.iter(f"{_XS}element"):
                if e.get("name") and e.get("type"):
                    elements.setdefault(e.get("name", ""), e.get("type", ""))
    enums: dict[str, tuple[str, ...]] = {}
    for simple in tree.iter(f"{_XS}simpleType"):
        if not simple.get("name"):
            continue
        name = f"t:{simple.get('name')}"
        values = tuple(v.get("value", "") for v in simple.iterfind(f"{_XS}restriction/{_XS}enumeration"))
        if values:
            enums[name] = values
            continue
        # a restricted (or a union of restricted) XML Schema type, e.g. ReminderMinutesBeforeStartType
        bases = [r.get("base", "") for r in simple.iter(f"{_XS}restriction")]
        if bases and all(b.startswith("xs:") for b in bases):
            elements.update({k: bases[0] for k, v in elements.items() if v == name})
    return elements, enums


def _kind(path: Path) -> str:
    """How the values of ``path`` compare: datetime, number, bool, binary, string or enum:<type>."""
    if path.ext is not None:
        ptype = (path.uri.get("PropertyType") if path.uri is not None else None) or "String"
        return _EXT_KINDS.get(ptype.removesuffix("Array"), "string")
    elements, enums = _schema()
    xsd_type = elements.get(path.name, "")
    if xsd_type in enums:
        return f"enum:{xsd_type}"
    return _XS_KINDS.get(xsd_type, "string")


def _convert(kind: str, value: str, zone: tzinfo | None = None) -> object:
    """A value of a property of ``kind``, comparable with the others; ValueError when invalid.
    A date-time without offset is in ``zone`` (the request's time zone context)."""
    text = value.strip()
    if kind == "datetime":
        return parse_datetime(text, zone)
    if kind == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(value) from None
        if not number.is_finite():
            raise ValueError(value)
        return number
    if kind == "bool":
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError(value)
    if kind == "binary":
        return value
    if kind.startswith("enum:"):
        order = [v.casefold() for v in _schema()[1][kind[5:]]]
        return order.index(text.casefold())
    return value.casefold()


def _values(item: Item, path: Path, ctx: Context, occ: OccurrenceView | None) -> list[str] | None:
    """The text values of a path; None when the item lacks the property. A multi-valued property
    (an ArrayOfStringsType such as Categories, an array extended property) gives each value."""
    elems = value_elements(item, path, ctx, occ)
    if not elems:
        return None
    elem = elems[0]
    if path.ext is not None:
        values = elem.find(t("Values"))
        if values is not None:
            return [v.text or "" for v in values if isinstance(v.tag, str)]
        return [elem.findtext(t("Value")) or ""]
    children = [c for c in elem if isinstance(c.tag, str)]
    if children and all(etree.QName(c).localname == "String" for c in children):
        return [c.text or "" for c in children]
    return [elem.text or ""]


_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,  # evaluated as Not(IsEqualTo) in _compare
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


def _compare(op: str, expr: etree._Element, item: Item, ctx: Context, occ: OccurrenceView | None) -> bool:
    path = _path_of(expr)
    other = expr.find(t("FieldURIOrConstant"))
    operands = [c for c in other if isinstance(c.tag, str)] if other is not None else []
    if not operands:
        raise OperationError("ErrorInvalidRestriction", "The comparison has no operand.")
    kind = _kind(path)
    operand = operands[0]
    if etree.QName(operand).localname == "Constant":
        text = operand.get("Value") or ""
        try:
            right = [_convert(kind, text, ctx.tz_context)]
        except (ValueError, TypeError):
            raise OperationError(
                "ErrorInvalidValueForProperty", f"The value '{text}' is not valid for the property."
            ) from None
    else:
        right = _converted(kind, _values(item, parse_path(operand), ctx, occ) or [])
    values = _values(item, path, ctx, occ)
    if op == "IsNotEqualTo":
        # as Not(IsEqualTo): no value equals (see simulator/README.md, Restrictions)
        return values is None or not any(v == r for v in _converted(kind, values) for r in right)
    if values is None:
        return False
    compare = _COMPARE[op]
    return any(compare(v, r) for v in _converted(kind, values) for r in right)


def _converted(kind: str, texts: list[str], zone: tzinfo | None = None) -> list[object]:
    out = []
    for text in texts:
        try:
            out.append(_convert(kind, text, zone))
        except (ValueError, TypeError):
            continue  # a stored value of another form compares with nothing
    return out


def sort_value(path: Path, item: Item, ctx: Context, occ: OccurrenceView | None = None) -> object | None:
    """The value of ``path`` by which FindItem's ``SortOrder`` orders the item, typed as a
    comparison types it (see the module's description); None when the item lacks the property
    (or holds no value of its type). A multi-valued property sorts by its first value."""
    values = _converted(_kind(path), _values(item, path, ctx, occ) or [], ctx.tz_context)
    if not values:
        return None
    value = values[0]
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # comparable with the others (stored times carry one)
    return value


def _fold(text: str, comparison: str) -> str:
    """``text`` as ContainmentComparison compares it: IgnoreCase folds case, IgnoreNonSpacing
    drops combining marks (é is e), the Loose values do both."""
    if "NonSpacing" in comparison or "NonSpace" in comparison or comparison == "Loose":
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        text = unicodedata.normalize("NFC", text)
    if "IgnoreCase" in comparison or comparison.startswith("Loose"):
        text = text.casefold()
    return text


def _contained(value: str, needle: str, mode: str) -> bool:
    if mode == "FullString":
        return value == needle
    if mode == "Prefixed":
        return value.startswith(needle)
    if mode == "Substring":
        return needle in value
    if not needle:
        return False
    # PrefixOnWords: the constant starts at the start of a word; ExactPhrase: it also ends at
    # the end of one.
    end = r"(?!\w)" if mode == "ExactPhrase" else ""
    return re.search(r"(?<!\w)" + re.escape(needle) + end, value) is not None


def _contains(expr: etree._Element, item: Item, ctx: Context, occ: OccurrenceView | None) -> bool:
    values = _values(item, _path_of(expr), ctx, occ)
    const = expr.find(t("Constant"))
    if const is None:
        raise OperationError("ErrorInvalidRestriction", "Contains has no constant.")
    if values is None:
        return False
    mode = expr.get("ContainmentMode") or "FullString"
    comparison = expr.get("ContainmentComparison") or "Exact"
    needle = _fold(const.get("Value") or "", comparison)
    return any(_contained(_fold(v, comparison), needle, mode) for v in values)


def matches(expr: etree._Element, item: Item, ctx: Context, occ: OccurrenceView | None = None) -> bool:
    op = etree.QName(expr).localname
    children = [c for c in expr if isinstance(c.tag, str)]
    if op in ("Restriction", "And"):
        return all(matches(c, item, ctx, occ) for c in children)
    if op == "Or":
        return any(matches(c, item, ctx, occ) for c in children)
    if op == "Not":
        if not children:
            raise OperationError("ErrorInvalidRestriction", "Not has no expression.")
        return not matches(children[0], item, ctx, occ)
    if op == "Exists":
        return _values(item, _path_of(expr), ctx, occ) is not None
    if op in _COMPARE:
        return _compare(op, expr, item, ctx, occ)
    if op == "Contains":
        return _contains(expr, item, ctx, occ)
    raise OperationError("ErrorUnsupportedQueryFilter", f"The restriction {op} is not supported.")
