"""The add-in-only XML manifest of the "Book a room" task pane, for Exchange 2013+ and Microsoft 365.

Element order follows the schema's sequences ([MS-OWEMXML]); Outlook refuses a manifest whose
elements are out of order. Texts are German first, with French, Italian and English overrides.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from roomsync import addin_mark

APP = "http://schemas.microsoft.com/office/appforoffice/1.1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
BT = "http://schemas.microsoft.com/office/officeappbasictypes/1.0"
MAILOR = "http://schemas.microsoft.com/office/mailappversionoverrides"
MAILOR11 = "http://schemas.microsoft.com/office/mailappversionoverrides/1.1"
VERSION = "1.0.0.0"

DEFAULT_LOCALE = "de-CH"
TEXTS: dict[str, dict[str, str]] = {
    "name": {
        "de-CH": "Raum buchen",
        "fr-CH": "Réserver une salle",
        "it-CH": "Prenota una sala",
        "en-US": "Book a room",
    },
    "description": {
        "de-CH": "Bucht einen Raum in ROOMS, während Sie die Besprechung in Outlook schreiben.",
        "fr-CH": "Réserve une salle dans ROOMS pendant que vous rédigez la réunion dans Outlook.",
        "it-CH": "Prenota una sala in ROOMS mentre scrivete la riunione in Outlook.",
        "en-US": "Books a room in ROOMS while you write the meeting in Outlook.",
    },
    "group": {"de-CH": "ROOMS", "fr-CH": "ROOMS", "it-CH": "ROOMS", "en-US": "ROOMS"},
}
_XSI_TYPE = f"{{{XSI}}}type"


def base_url(value: str) -> str:
    """The add-in's origin and path, checked: Office loads add-ins over https only."""
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{value!r} is not an https URL such as https://rooms.example.ch")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} carries a query or fragment; give the service's base URL only")
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.replace("__", ":"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _localized(parent: ET.Element, tag: str, texts: dict[str, str]) -> None:
    element = _sub(parent, f"{{{APP}}}{tag}", DefaultValue=texts[DEFAULT_LOCALE])
    for locale, text in texts.items():
        if locale != DEFAULT_LOCALE:
            _sub(element, f"{{{APP}}}Override", Locale=locale, Value=text)


def _resource(parent: ET.Element, tag: str, res_id: str, value: str, texts: dict[str, str] | None) -> None:
    element = _sub(parent, f"{{{BT}}}{tag}", id=res_id, DefaultValue=value)
    for locale, text in (texts or {}).items():
        if locale != DEFAULT_LOCALE:
            _sub(element, f"{{{BT}}}Override", Locale=locale, Value=text)


def manifest(
    base: str, provider: str = "roomsync", client_id: str | None = None, name: str | None = None
) -> bytes:
    """The manifest XML for an add-in served under ``base`` (see :func:`base_url`).

    ``name``: the add-in's name and button label in every language, instead of "Raum buchen",
    "Réserver une salle", "Prenota una sala" and "Book a room" by Outlook's language.
    ``client_id``: the Entra application of the web API, for Office single sign-on
    (``Office.auth.getAccessToken``); without it the pane signs in through a dialog.
    """
    root = base_url(base)
    names = {DEFAULT_LOCALE: name.strip()} if name and name.strip() else TEXTS["name"]
    pane = f"{root}/addin/taskpane.html"
    ET.register_namespace("", APP)
    ET.register_namespace("xsi", XSI)
    ET.register_namespace("bt", BT)
    ET.register_namespace("mailappor", MAILOR)
    ET.register_namespace("mailappor11", MAILOR11)
    app = ET.Element(f"{{{APP}}}OfficeApp", {_XSI_TYPE: "MailApp"})
    a = f"{{{APP}}}"
    _sub(app, a + "Id", addin_mark.ADDIN_ID)
    _sub(app, a + "Version", VERSION)
    _sub(app, a + "ProviderName", provider)
    _sub(app, a + "DefaultLocale", DEFAULT_LOCALE)
    _localized(app, "DisplayName", names)
    _localized(app, "Description", TEXTS["description"])
    _sub(app, a + "IconUrl", DefaultValue=f"{root}/addin/icon-64.png")
    _sub(app, a + "HighResolutionIconUrl", DefaultValue=f"{root}/addin/icon-128.png")
    _sub(app, a + "SupportUrl", DefaultValue=f"{root}/addin/taskpane.html")
    domains = _sub(app, a + "AppDomains")
    _sub(domains, a + "AppDomain", f"https://{urlsplit(root).netloc}")
    hosts = _sub(app, a + "Hosts")
    _sub(hosts, a + "Host", Name="Mailbox")
    sets = _sub(_sub(app, a + "Requirements"), a + "Sets")
    _sub(sets, a + "Set", Name="Mailbox", MinVersion="1.1")
    form = _sub(_sub(app, a + "FormSettings"), a + "Form", **{"xsi__type": "ItemEdit"})
    _sub(_sub(form, a + "DesktopSettings"), a + "SourceLocation", DefaultValue=pane)
    _sub(app, a + "Permissions", "ReadWriteItem")
    rule = _sub(app, a + "Rule", **{"xsi__type": "RuleCollection", "Mode": "Or"})
    _sub(rule, a + "Rule", **{"xsi__type": "ItemIs", "ItemType": "Appointment", "FormType": "Edit"})
    _sub(app, a + "DisableEntityHighlighting", "false")
    _version_overrides(app, pane, root, client_id, names)
    _fix_xsi_prefixes(app)
    ET.indent(app)  # readable for the administrator who uploads it; no element has mixed content
    return ET.tostring(app, encoding="utf-8", xml_declaration=True)


def _version_overrides(
    app: ET.Element, pane: str, root: str, client_id: str | None, names: dict[str, str]
) -> None:
    """The "Book a room" button on the ribbon of a meeting being organised (add-in commands)."""
    m = f"{{{MAILOR}}}"
    outer = _sub(app, m + "VersionOverrides", **{"xsi__type": "mailappor:VersionOverridesV1_0"})
    inner = _sub(
        outer, f"{{{MAILOR11}}}VersionOverrides", **{"xsi__type": "mailappor11:VersionOverridesV1_1"}
    )
    o = f"{{{MAILOR11}}}"
    sets = _sub(_sub(inner, o + "Requirements"), f"{{{BT}}}Sets", DefaultMinVersion="1.3")
    _sub(sets, f"{{{BT}}}Set", Name="Mailbox")
    host = _sub(_sub(inner, o + "Hosts"), o + "Host", **{"xsi__type": "mailappor11:MailHost"})
    desktop = _sub(host, o + "DesktopFormFactor")
    point = _sub(
        desktop, o + "ExtensionPoint", **{"xsi__type": "mailappor11:AppointmentOrganizerCommandSurface"}
    )
    group = _sub(_sub(point, o + "OfficeTab", id="TabDefault"), o + "Group", id="roomsyncGroup")
    _sub(group, o + "Label", resid="groupLabel")
    button = _sub(group, o + "Control", **{"xsi__type": "mailappor11:Button", "id": "roomsyncBookRoom"})
    _sub(button, o + "Label", resid="buttonLabel")
    tip = _sub(button, o + "Supertip")
    _sub(tip, o + "Title", resid="buttonLabel")
    _sub(tip, o + "Description", resid="buttonTip")
    icon = _sub(button, o + "Icon")
    for size in ("16", "32", "80"):
        _sub(icon, f"{{{BT}}}Image", size=size, resid=f"icon{size}")
    action = _sub(button, o + "Action", **{"xsi__type": "mailappor11:ShowTaskpane"})
    _sub(action, o + "SourceLocation", resid="paneUrl")
    resources = _sub(inner, o + "Resources")
    images = _sub(resources, f"{{{BT}}}Images")
    for size in ("16", "32", "80"):
        _resource(images, "Image", f"icon{size}", f"{root}/addin/icon-{size}.png", None)
    urls = _sub(resources, f"{{{BT}}}Urls")
    _resource(urls, "Url", "paneUrl", pane, None)
    shorts = _sub(resources, f"{{{BT}}}ShortStrings")
    _resource(shorts, "String", "groupLabel", TEXTS["group"][DEFAULT_LOCALE], TEXTS["group"])
    _resource(shorts, "String", "buttonLabel", names[DEFAULT_LOCALE], names)
    longs = _sub(resources, f"{{{BT}}}LongStrings")
    _resource(longs, "String", "buttonTip", TEXTS["description"][DEFAULT_LOCALE], TEXTS["description"])
    if client_id:
        info = _sub(inner, o + "WebApplicationInfo")
        _sub(info, o + "Id", client_id)
        _sub(info, o + "Resource", f"api://{urlsplit(root).netloc}/{client_id}")
        scopes = _sub(info, o + "Scopes")
        for scope in ("openid", "profile"):
            _sub(scopes, o + "Scope", scope)


def _fix_xsi_prefixes(element: ET.Element) -> None:
    """``xsi__type`` keyword arguments become the real ``xsi:type`` attribute. Its value is a QName
    resolved against the prefixes the serializer declares on the root (see :func:`manifest`)."""
    for node in element.iter():
        if "xsi:type" in node.attrib:
            node.set(_XSI_TYPE, node.attrib.pop("xsi:type"))
