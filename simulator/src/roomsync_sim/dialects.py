"""The four dialects the simulator speaks: exchange2007, exchange2010 and exchange2013 over EWS,
o365 over Microsoft Graph (with EWS beside it, as Exchange Online keeps it until its shutdown).

One simulator instance serves one dialect, the way one Exchange server speaks the schema
generation of its release. A dialect names the ``RequestServerVersion`` values it accepts, the
``ServerVersionInfo`` it answers with and the schema set that defines its operations and
elements; what a dialect lacks is what its schema set does not declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"

_V2007 = ("Exchange2007", "Exchange2007_SP1")
_V2010 = (*_V2007, "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2")
_V2013 = (*_V2010, "Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016")


@dataclass(frozen=True)
class ServerVersion:
    """The ``ServerVersionInfo`` header of every response (a build of the release)."""

    major: int
    minor: int
    major_build: int
    minor_build: int
    version: str


@dataclass(frozen=True)
class Dialect:
    """One generation of EWS: accepted request versions, reported build, schema set."""

    name: str
    schema_dir: str
    accepted_versions: tuple[str, ...]
    server_version: ServerVersion
    # The 2007 endpoint is an ASP.NET web service; 2010 and later run on WCF. They refuse an
    # unknown SOAP action differently.
    wcf: bool
    # Whether the TimeZoneContext header is part of the dialect (2010 and later).
    time_zone_context: bool
    # Exchange 2007 grants impersonation by two Active Directory extended rights; 2010 and
    # later by the ApplicationImpersonation RBAC role.
    ad_impersonation: bool = False
    # Exchange Online: Microsoft Graph and its sign-in endpoints beside EWS (roomsync_sim.graph).
    graph: bool = False

    @property
    def schema_path(self) -> Path:
        return Path(str(files("roomsync_sim") / "schemas" / self.schema_dir))

    def schema_file(self, name: str) -> Path:
        return self.schema_path / name

    @cached_property
    def operations(self) -> frozenset[str]:
        """The operations the dialect's Services.wsdl declares."""
        tree = etree.parse(str(self.schema_file("Services.wsdl")))
        names = tree.xpath("//w:portType/w:operation/@name", namespaces={"w": WSDL})
        return frozenset(str(n) for n in names)

    @cached_property
    def _types(self) -> etree._ElementTree:
        return etree.parse(str(self.schema_file("types.xsd")))

    def element_order(self, type_name: str) -> tuple[str, ...]:
        """Child element names of a complex type of types.xsd in schema order, bases first.

        Responses must list an item's properties in this order to be schema valid, and the
        order differs between dialects.
        """
        return _element_order(self, type_name)

    def has_element(self, type_name: str, element: str) -> bool:
        return element in self.element_order(type_name)

    def supports_operation(self, name: str) -> bool:
        return name in self.operations


_ORDER_CACHE: dict[tuple[str, str], tuple[str, ...]] = {}


def _element_order(dialect: Dialect, type_name: str) -> tuple[str, ...]:
    key = (dialect.name, type_name)
    cached = _ORDER_CACHE.get(key)
    if cached is not None:
        return cached
    ns = {"xs": XS}
    found = dialect._types.xpath(f"//xs:complexType[@name='{type_name}']", namespaces=ns)
    if not found:
        raise KeyError(type_name)
    ctype = found[0]
    names: list[str] = []
    ext = ctype.xpath("xs:complexContent/xs:extension", namespaces=ns)
    scope = ctype
    if ext:
        base = str(ext[0].get("base")).split(":")[-1]
        names.extend(_element_order(dialect, base))
        scope = ext[0]
    for el in scope.xpath(".//xs:element", namespaces=ns):
        name = el.get("name") or str(el.get("ref", "")).split(":")[-1]
        if name and name not in names:
            names.append(name)
    result = tuple(names)
    _ORDER_CACHE[key] = result
    return result


EXCHANGE2007 = Dialect(
    name="exchange2007",
    schema_dir="exchange2007_sp1",
    accepted_versions=_V2007,
    server_version=ServerVersion(8, 3, 83, 6, "Exchange2007_SP1"),
    wcf=False,
    time_zone_context=False,
    ad_impersonation=True,
)
EXCHANGE2010 = Dialect(
    name="exchange2010",
    schema_dir="exchange2010_sp2",
    accepted_versions=_V2010,
    server_version=ServerVersion(14, 3, 123, 4, "Exchange2010_SP2"),
    wcf=True,
    time_zone_context=True,
)
# Exchange 2016 and later report a dated schema name that is not valid in a request; clients
# fall back to the version they asked for (exchangelib does).
EXCHANGE2013 = Dialect(
    name="exchange2013",
    schema_dir="exchange2016",
    accepted_versions=_V2013,
    server_version=ServerVersion(15, 1, 2507, 6, "V2016_10_10"),
    wcf=True,
    time_zone_context=True,
)

# Exchange Online: a tenant speaking Microsoft Graph v1.0 (and EWS with the 2016 schema set, as
# Exchange Online did until EWS was switched off).
O365 = Dialect(
    name="o365",
    schema_dir="exchange2016",
    accepted_versions=_V2013,
    server_version=ServerVersion(15, 20, 8606, 20, "V2018_01_08"),
    wcf=True,
    time_zone_context=True,
    graph=True,
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (EXCHANGE2007, EXCHANGE2010, EXCHANGE2013, O365)}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; choose one of {', '.join(DIALECTS)}") from None
