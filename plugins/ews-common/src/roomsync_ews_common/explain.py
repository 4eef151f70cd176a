"""Why an EWS endpoint could not be used, in the words of the administrator who has to fix it.

exchangelib reports a wrong url, a name that does not resolve, a refused connection or an
untrusted certificate as the message of the requests/urllib3 exception it wraps, which names
Python classes rather than the setting to change. :func:`endpoint_problem` walks the chain of
causes and names the option (``url``, ``ca_file``) and what to check on the Exchange side,
with the kind of fault it is (a certificate is :attr:`~roomsync.errors.Fault.TLS`, a url that
points at a web page is :attr:`~roomsync.errors.Fault.CONFIGURATION`).
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

from exchangelib.errors import MalformedResponseError, RedirectError, UnauthorizedError

from roomsync.errors import Fault

USUAL_PATH = "/EWS/Exchange.asmx"
SHOW_EWS_URLS = "Get-WebServicesVirtualDirectory | Format-List Server,InternalUrl,ExternalUrl"
"""Exchange Management Shell: where each server publishes EWS."""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from or while handling, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError keeps its cause here
        pending.extend(
            [current.__cause__, current.__context__, reason if isinstance(reason, BaseException) else None]
        )


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def usual_url(url: str) -> str:
    """The url with EWS's usual path, for the hint."""
    parts = urlsplit(url)
    host = parts.hostname or "mail.example.org"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme or 'https'}://{netloc}{USUAL_PATH}"


def endpoint_problem(
    exc: BaseException, url: str, account: str = "SERVICE-ACCOUNT"
) -> tuple[Fault, str] | None:
    """What kind of fault lies between roomsync and ``url`` and what to change; None for others."""
    parts = urlsplit(url)
    host = parts.hostname or url
    port = parts.port or (443 if parts.scheme == "https" else 80)
    usual = f"{usual_url(url)} is the usual path ({SHOW_EWS_URLS} shows each server's)"
    chain = list(_causes(exc))
    verify = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)), None)
    if verify is not None or any("CERTIFICATE_VERIFY_FAILED" in str(c) for c in chain):
        reason = getattr(verify, "verify_message", None) or "certificate verify failed"
        if "hostname" in reason.lower():
            return Fault.TLS, (
                f"the TLS certificate of {host} is not made out to that name ({reason}); use in the url "
                "option the host name the certificate names (the one Outlook on the web uses)"
            )
        return Fault.TLS, (
            f"the TLS certificate of {host} is not trusted ({reason}); set the ca_file option to the "
            "PEM file of the certificate authority that issued it (or of your TLS-inspecting proxy)"
        )
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return Fault.TLS, (
                f"the TLS handshake with {host}:{port} failed ({_text(cause)}); check that the url's "
                "port serves HTTPS and that the ca_file option names the right certificate authority"
            )
        if isinstance(cause, socket.gaierror):
            return Fault.SERVER, (
                f"the host name {host} does not resolve ({cause.strerror or _text(cause)}); check the "
                f"host in the url option ({url}) and the DNS servers this machine uses"
            )
        if isinstance(cause, ConnectionRefusedError):
            return Fault.SERVER, (
                f"nothing accepts connections at {host}:{port} (connection refused); check the host "
                f"and port of the url option ({url}), that IIS runs on the Exchange server and that "
                "no firewall rejects this machine"
            )
        if isinstance(cause, (TimeoutError, socket.timeout)) or type(cause).__name__ == "ConnectTimeoutError":
            return Fault.SERVER, (
                f"{host}:{port} did not answer in time; check the url option ({url}) and the network "
                "path (a firewall that drops connections looks like this)"
            )
        if isinstance(cause, RedirectError):
            return Fault.CONFIGURATION, (
                f"{url} redirects to {cause.url}; Exchange does not redirect EWS, so the url points at "
                f"a web page (Outlook on the web, a sign-in portal): set it to the EWS endpoint; {usual}"
            )
        if isinstance(cause, MalformedResponseError):
            return _not_ews(str(cause), url, usual, account)
    return None


def _not_ews(message: str, url: str, usual: str, account: str) -> tuple[Fault, str]:
    """An answer that is not EWS: an HTTP error status, or a page that is no SOAP envelope."""
    found = re.search(r"Code: (\d{3})", message)
    if found is None:
        return Fault.CONFIGURATION, (
            f"{url} answered, but not with EWS (an HTML page or another document: {message}); the url "
            "probably points at Outlook on the web, a sign-in portal or a proxy. Check the url option; "
            f"{usual}"
        )
    code = int(found.group(1))
    if code == 404 and urlsplit(url).path.lower() == USUAL_PATH.lower():
        return Fault.CONFIGURATION, (
            f"{url} answered HTTP 404 (not found) on EWS's usual path: the host is not an Exchange "
            "server with the Client Access role, or its EWS virtual directory is missing "
            f"({SHOW_EWS_URLS})"
        )
    if code == 404:
        return Fault.CONFIGURATION, (
            f"{url} is not an EWS endpoint: the server answered HTTP 404 (not found). Check the url "
            f"option; {usual}"
        )
    if code == 403:
        return Fault.PERMISSION, (
            f"{url} answered HTTP 403 (forbidden): EWS may be disabled for the service account "
            f"(Get-CASMailbox {account} | Format-List EwsEnabled) or the virtual directory "
            "requires https or a client certificate"
        )
    if code >= 500:
        return Fault.SERVER, (
            f"the server at {url} failed with HTTP {code}; check the Exchange server's event log and "
            "that the IIS application pool of EWS (MSExchangeServicesAppPool) runs"
        )
    return Fault.CONFIGURATION, (
        f"{url} answered HTTP {code}, which is not an EWS answer. Check the url option; {usual}"
    )


def kerberos_refused(exc: BaseException, url: str) -> str:
    """Why a Kerberos logon (SPNEGO, HTTP Negotiate) to ``url`` failed, and what to check: the
    server's 401 and a ticket that could not be had look alike from here."""
    host = urlsplit(url).hostname or url
    if isinstance(exc, UnauthorizedError):
        what = f"the server at {url} refused the Kerberos logon (HTTP 401, Negotiate authentication)"
    else:
        what = f"no Kerberos ticket for {url} could be had ({type(exc).__name__}: {_text(exc)})"
    return (
        f"{what}. Check that roomsync's process has a ticket (klist; the credential cache in "
        "KRB5CCNAME, renewed by kinit -k or k5start, or a client keytab in KRB5_CLIENT_KTNAME), that "
        f"the service principal HTTP/{host} is registered for the account that runs EWS (setspn -Q "
        f"HTTP/{host}) and that the url names that host rather than an alias without one, that the "
        "clocks agree within five minutes, and that Windows authentication with the Negotiate "
        "provider is on for the EWS virtual directory "
        "(Get-WebServicesVirtualDirectory | Format-List WindowsAuthentication)"
    )
