"""Validation of request and response documents against the dialect's official schema set.

Exchange validates every request against its schema and answers a violation with
``ErrorSchemaValidation``; that is how a 2007 server refuses ``StartTimeZone``. The simulator
does the same when validation is on, and checks its own responses too (a violation there is a
defect of the simulator, recorded for the tests). Compiling a set takes about a second, so each
is compiled once per process.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import xmlschema
from lxml import etree

from roomsync_sim.dialects import Dialect
from roomsync_sim.soap import T

_LOCK = threading.Lock()
_NOT_ALLOWED = re.compile(r"'([^']+)' attribute not allowed")
_SCHEMAS: dict[str, xmlschema.XMLSchema10] = {}

# The published schemas fix RequestServerVersion/@Version to the schema's own version; servers
# accept every version they know, and the dispatcher checks that itself.
_SKIP_HEADERS = {f"{{{T}}}RequestServerVersion"}


def schema_for(dialect: Dialect) -> xmlschema.XMLSchema10:
    with _LOCK:
        schema = _SCHEMAS.get(dialect.name)
        if schema is None:
            base = dialect.schema_path
            schema = xmlschema.XMLSchema10(
                str(base / "messages.xsd"),
                locations=[("http://www.w3.org/XML/1998/namespace", str(base.parent / "xml.xsd"))],
                validation="lax",
            )
            _SCHEMAS[dialect.name] = schema
        return schema


@dataclass(frozen=True)
class Violation:
    """One schema violation, worded the way .NET (and so Exchange) words it where possible."""

    message: str
    line: int
    position: int


def _ns_name(tag: str) -> tuple[str, str]:
    q = etree.QName(tag)
    return q.localname, q.namespace or ""


def _describe(error: xmlschema.XMLSchemaValidationError) -> str:
    elem = error.elem
    invalid = getattr(error, "invalid_child", None)
    if elem is not None and invalid is not None and isinstance(invalid.tag, str):
        pname, pns = _ns_name(elem.tag)
        cname, cns = _ns_name(invalid.tag)
        return (
            f"The element '{pname}' in namespace '{pns}' has invalid child element '{cname}' "
            f"in namespace '{cns}'."
        )
    reason = error.reason or str(error)
    attr = _NOT_ALLOWED.match(reason)
    if attr:
        return f"The '{attr.group(1)}' attribute is not declared."
    if elem is not None and isinstance(elem.tag, str):
        name, ns = _ns_name(elem.tag)
        return f"The element '{name}' in namespace '{ns}' is invalid: {reason}"
    return reason


def _check(schema: xmlschema.XMLSchema10, elem: etree._Element) -> list[Violation]:
    out = []
    for error in schema.iter_errors(elem):
        target = getattr(error, "invalid_child", None)
        if target is None or not hasattr(target, "sourceline"):
            target = error.elem
        line = getattr(target, "sourceline", None) or 0
        out.append(Violation(_describe(error), int(line), 0))
    return out


def validate_request(
    dialect: Dialect, header: etree._Element | None, body: etree._Element
) -> list[Violation]:
    """Violations of the request's header entries and operation element."""
    schema = schema_for(dialect)
    violations: list[Violation] = []
    if header is not None:
        for child in header:
            if not isinstance(child.tag, str) or child.tag in _SKIP_HEADERS:
                continue
            if etree.QName(child).namespace != T:
                continue
            if not _declared(schema, child.tag):
                continue
            violations.extend(_check(schema, child))
    violations.extend(_check(schema, body))
    return violations


def validate_response(dialect: Dialect, envelope: etree._Element) -> list[Violation]:
    """Violations of the response's header entries and body element (faults are not checked)."""
    schema = schema_for(dialect)
    violations: list[Violation] = []
    for part in envelope:
        for child in part:
            if not isinstance(child.tag, str) or etree.QName(child).namespace not in (T, _M):
                continue
            violations.extend(_check(schema, child))
    return violations


def _declared(schema: xmlschema.XMLSchema10, tag: str) -> bool:
    return tag in schema.maps.elements


_M = "http://schemas.microsoft.com/exchange/services/2006/messages"
