"""SOAP envelopes as Exchange reads and writes them.

Requests are parsed with a hardened parser (no DTD, no entities, no network, a size limit), so a
hostile body costs nothing but an error response. Errors that concern the whole request are SOAP
faults with the Exchange response code in ``detail``; errors of one element of a batch are
response messages (``ResponseClass="Error"``), written by :func:`response_message`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from roomsync_sim.dialects import Dialect

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
XML_NS = "http://www.w3.org/XML/1998/namespace"
WCF_NONE = "http://schemas.microsoft.com/ws/2005/05/addressing/none"

DEFAULT_MAX_BODY = 10 * 1024 * 1024

# Exchange's own wording of the codes raised here, as it writes them into faultstring/Message.
MESSAGES = {
    "ErrorInvalidServerVersion": "The specified server version is invalid.",
    "ErrorSchemaValidation": "The request failed schema validation.",
    "ErrorServerBusy": "The server cannot service this request right now. Try again later.",
    "ErrorImpersonateUserDenied": "The account does not have permission to impersonate the requested user.",
    "ErrorNonExistentMailbox": "The SMTP address has no mailbox associated with it.",
    "ErrorInvalidRequest": "The request is invalid.",
    "ErrorInternalServerError": "An internal server error occurred. The operation failed.",
}

# Operations whose request element is not named after the operation (the availability service).
REQUEST_ELEMENTS = {
    "GetUserAvailabilityRequest": "GetUserAvailability",
    "GetUserOofSettingsRequest": "GetUserOofSettings",
    "SetUserOofSettingsRequest": "SetUserOofSettings",
}

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def t(name: str) -> str:
    return f"{{{T}}}{name}"


def m(name: str) -> str:
    return f"{{{M}}}{name}"


class SoapFault(Exception):
    """A request-level error, answered as a SOAP fault (HTTP 500) the way Exchange does."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        message_xml: list[tuple[str, str, dict[str, str]]] | None = None,
        faultcode: str | None = None,
        faultstring: str | None = None,
        status: int = 500,
        detail: list[tuple[str, str]] | None = None,
    ) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, code)
        self.message_xml = message_xml or []
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.status = status
        # The availability service's faults carry (messages namespace) elements of their own.
        self.detail = detail
        super().__init__(f"{code}: {self.message}")


def schema_fault(violation: str, line: int = 0, position: int = 0) -> SoapFault:
    """``ErrorSchemaValidation`` with the violation in ``MessageXml``, as Exchange reports it."""
    return SoapFault(
        "ErrorSchemaValidation",
        faultstring=f"The request failed schema validation: {violation}",
        message_xml=[
            ("LineNumber", str(line), {}),
            ("LinePosition", str(position), {}),
            ("Violation", violation, {}),
        ],
    )


def parse_request(data: bytes) -> etree._Element:
    """Parse a request body; malformed XML or any DTD is a schema validation fault."""
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:65536]:
        raise schema_fault("For security reasons DTD is prohibited in this XML document.", 1, 1)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as e:
        line, col = e.position if e.position else (0, 0)
        raise schema_fault(str(e.msg or "The XML is not well formed."), line, col) from None
    if root.getroottree().docinfo.doctype:
        raise schema_fault("For security reasons DTD is prohibited in this XML document.", 1, 1)
    return root


@dataclass
class Envelope:
    """The parts of a request the dispatcher needs."""

    header: etree._Element | None
    body: etree._Element  # the operation element, e.g. m:GetFolder
    headers: dict[str, etree._Element] = field(default_factory=dict)

    @property
    def operation(self) -> str:
        name = etree.QName(self.body).localname
        return REQUEST_ELEMENTS.get(name, name)

    @property
    def operation_ns(self) -> str | None:
        return etree.QName(self.body).namespace


def split_envelope(root: etree._Element) -> Envelope:
    if root.tag != f"{{{SOAP}}}Envelope":
        raise schema_fault(
            f"The element '{etree.QName(root).localname}' is not the SOAP 1.1 Envelope.",
            root.sourceline or 1,
            1,
        )
    header = root.find(f"{{{SOAP}}}Header")
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or len(body) != 1:
        raise schema_fault("The SOAP Body must contain exactly one request element.", root.sourceline or 1, 1)
    headers = {}
    if header is not None:
        for child in header:
            if isinstance(child.tag, str):
                headers[etree.QName(child).localname] = child
    return Envelope(header=header, body=body[0], headers=headers)


# --- writing ---------------------------------------------------------------------------------


def new_envelope(dialect: Dialect | None) -> tuple[etree._Element, etree._Element]:
    """An envelope with the ServerVersionInfo header; returns (envelope, body)."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    if dialect is not None:
        header = etree.SubElement(env, f"{{{SOAP}}}Header")
        sv = dialect.server_version
        etree.SubElement(
            header,
            f"{{{T}}}ServerVersionInfo",
            {
                "MajorVersion": str(sv.major),
                "MinorVersion": str(sv.minor),
                "MajorBuildNumber": str(sv.major_build),
                "MinorBuildNumber": str(sv.minor_build),
                "Version": sv.version,
            },
            nsmap={"h": T},
        )
    body = etree.SubElement(env, f"{{{SOAP}}}Body", nsmap={"xsi": XSI, "xsd": XSD})
    return env, body


def response_root(body: etree._Element, operation: str) -> tuple[etree._Element, etree._Element]:
    """``<m:{Operation}Response><m:ResponseMessages>``; returns both."""
    resp = etree.SubElement(body, m(f"{operation}Response"), nsmap={"m": M, "t": T})
    messages = etree.SubElement(resp, m("ResponseMessages"))
    return resp, messages


def response_message(
    parent: etree._Element,
    operation: str,
    code: str = "NoError",
    text: str | None = None,
    *,
    message_xml: list[tuple[str, str, dict[str, str]]] | None = None,
    tag: str | None = None,
    container: str | None = None,
) -> etree._Element:
    """One ``{Operation}ResponseMessage``: Success with ``NoError`` or Error with a code."""
    msg = etree.SubElement(
        parent,
        m(tag or f"{operation}ResponseMessage"),
        {"ResponseClass": "Success" if code == "NoError" else "Error"},
    )
    if code != "NoError":
        etree.SubElement(msg, m("MessageText")).text = text or MESSAGES.get(code, code)
    etree.SubElement(msg, m("ResponseCode")).text = code
    if code != "NoError":
        etree.SubElement(msg, m("DescriptiveLinkKey")).text = "0"
        if message_xml:
            mx = etree.SubElement(msg, m("MessageXml"))
            for name, value, attrs in message_xml:
                etree.SubElement(mx, t(name), attrs).text = value
        if container:
            # Exchange writes the (empty) result container even into an error message.
            etree.SubElement(msg, m(container))
    return msg


def fault_envelope(fault: SoapFault, dialect: Dialect | None) -> bytes:
    """A SOAP fault as Exchange writes it: code as ``a:{code}``, details in ``detail``."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    body = etree.SubElement(env, f"{{{SOAP}}}Body")
    f = etree.SubElement(body, f"{{{SOAP}}}Fault")
    if fault.faultcode and fault.faultcode.startswith("soap:"):
        fc = etree.SubElement(f, "faultcode")
        fc.text = "s:" + fault.faultcode.split(":", 1)[1]
    elif fault.faultcode == "ActionNotSupported":
        fc = etree.SubElement(f, "faultcode", nsmap={"a": WCF_NONE})
        fc.text = "a:ActionNotSupported"
    else:
        fc = etree.SubElement(f, "faultcode", nsmap={"a": T})
        fc.text = f"a:{fault.code}"
    fs = etree.SubElement(f, "faultstring", {f"{{{XML_NS}}}lang": "en-US"})
    fs.text = fault.faultstring or fault.message
    if fault.detail is not None:
        detail = etree.SubElement(f, "detail")
        for name, value in fault.detail:
            etree.SubElement(detail, m(name), nsmap={"m": M}).text = value
    elif fault.faultcode is None:
        detail = etree.SubElement(f, "detail")
        etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = fault.code
        etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = fault.message
        if fault.message_xml:
            mx = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
            for name, value, attrs in fault.message_xml:
                etree.SubElement(mx, t(name), attrs).text = value
    return serialize(env)


def serialize(env: etree._Element) -> bytes:
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
