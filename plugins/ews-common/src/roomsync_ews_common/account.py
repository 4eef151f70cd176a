"""exchangelib accounts for one EWS environment: pinned version, bounded retries and waits, TLS.

One :class:`AccountPool` per connector builds a single exchangelib ``Configuration`` (so every
mailbox shares its connections) and one ``Account`` per mailbox, cached until :meth:`close`.
Notifications get a pool of their own (``own_connections``): exchangelib shares connections by
endpoint and credentials, and a streaming connection held open for half an hour must not take a
connection from the requests of the sync.

TLS: exchangelib sends through ``requests`` with a class-wide HTTP adapter. Instead of turning
verification off for the whole process, :class:`EndpointTlsAdapter` is installed as that adapter
and looks the verification setting up per endpoint (scheme, host and port of the EWS url). Limits:
one setting per endpoint and process (two environments naming the same url share the one
registered last), and a named CA file is trusted in addition to the bundle ``requests`` uses
(``REQUESTS_CA_BUNDLE``, else ``certifi``'s), not the operating system's store. The CA is read into
an in-memory SSL context, so no file is written that a killed process could leave behind.

Waits: every request of the pool's protocol has the environment's connect and read time-outs
(exchangelib's own is 120 s). A request that got no answer (time-out, refused, reset) fails at once
instead of being repeated after exchangelib's back-off; only a server that answers "busy" is
waited for.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import sys
import threading
import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests.adapters
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    Account,
    Configuration,
    Credentials,
    FailFast,
    FaultTolerance,
)
from exchangelib.errors import ErrorTimeoutExpired, UnauthorizedError
from exchangelib.ewsdatetime import EWSTimeZone
from exchangelib.folders import Calendar, DistinguishedFolderId, Root
from exchangelib.properties import Mailbox
from exchangelib.protocol import BaseProtocol, Protocol
from exchangelib.transport import BASIC, GSSAPI, NTLM
from exchangelib.version import EXCHANGE_2007_SP1, EXCHANGE_2010_SP1, EXCHANGE_2013, Build, Version

from roomsync.connector.traffic import RequestCounter
from roomsync.errors import ConfigError
from roomsync.tls import trust_context
from roomsync_ews_common.options import EwsOptions, kerberos_missing

log = logging.getLogger(__name__)

AUTH_TYPES = {"basic": BASIC, "ntlm": NTLM, "kerberos": GSSAPI}
"""exchangelib's name of each ``auth`` option; GSSAPI is SPNEGO over HTTP Negotiate (requests-gssapi)."""

BUILDS: dict[str, Build] = {
    "Exchange2007_SP1": EXCHANGE_2007_SP1,
    "Exchange2010_SP1": EXCHANGE_2010_SP1,
    "Exchange2013": EXCHANGE_2013,
}
"""The build each pinned dialect stands for; exchangelib decides what it may send by the build."""

MAX_RETRY_WAIT_SECONDS = 60
"""How long exchangelib may back off for one request (ErrorServerBusy, 503) before giving up."""


NO_ANSWER = "Reraised from "
"""How exchangelib's ErrorTimeoutExpired begins when it stands for a request that got no answer
(a time-out, a refused or reset connection) rather than for EWS's own ErrorTimeoutExpired."""


class LogonFailsAtOnce(FaultTolerance):
    """exchangelib's bounded retries, except for what waiting cannot mend, which fails at once.

    * HTTP 401 is a failed logon: exchangelib retries a 401 like a busy server (some servers once
      answered 401 under load), so a wrong password surfaced only after ``max_wait`` as "busy".
    * A request that got no answer: exchangelib backs off (10 s, 20 s, 40 s ...) and sends it again
      while it has more than one connection, each attempt waiting the whole time-out again, so one
      dead server cost minutes. The next cycle tries again instead.

    Exchange throttles with ErrorServerBusy and HTTP 503, which are still waited for.
    """

    def raise_response_errors(self, response: Any) -> None:
        if response.status_code == 401:
            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        super().raise_response_errors(response)

    def back_off(self, seconds: Any) -> None:
        # exchangelib asks for a back-off while it handles the failure that caused it.
        cause = sys.exc_info()[1]
        if isinstance(cause, ErrorTimeoutExpired) and str(cause).startswith(NO_ANSWER):
            raise cause
        super().back_off(seconds)


def pinned_version(request_server_version: str) -> Version:
    """The exchangelib version for a dialect, so no request is spent on guessing it."""
    try:
        build = BUILDS[request_server_version]
    except KeyError:
        raise ValueError(f"no build known for EWS dialect {request_server_version!r}") from None
    return Version(build=build, api_version=request_server_version)


@functools.lru_cache(maxsize=256)
def endpoint_key(url: str) -> str:
    """Scheme, host and port of ``url``; asked a few times for every request, of a few urls."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class EndpointTlsAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter whose certificate verification follows the endpoint's configuration.

    Endpoints nobody registered keep what the caller asked for, so other users of exchangelib in
    the same process are not affected. It also counts the requests sent to each endpoint, for the
    connector registered first on it (environments sharing one endpoint count together).
    """

    _verify: ClassVar[dict[str, bool | ssl.SSLContext]] = {}
    _counters: ClassVar[dict[str, list[RequestCounter]]] = {}
    _users: ClassVar[dict[str, int]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(cls, url: str, verify: bool | ssl.SSLContext, counter: RequestCounter | None = None) -> None:
        with cls._lock:
            key = endpoint_key(url)
            cls._verify[key] = verify
            cls._users[key] = cls._users.get(key, 0) + 1
            if counter is not None:
                cls._counters.setdefault(key, []).append(counter)

    @classmethod
    def unregister(cls, url: str, counter: RequestCounter | None = None) -> None:
        """Forget the endpoint's setting once every pool that registered it has closed."""
        with cls._lock:
            key = endpoint_key(url)
            counters = cls._counters.get(key, [])
            if counter in counters:
                counters.remove(counter)
            if not counters:
                cls._counters.pop(key, None)
            cls._users[key] = cls._users.get(key, 1) - 1
            if cls._users[key] <= 0:
                cls._users.pop(key, None)
                cls._verify.pop(key, None)

    @classmethod
    def install(cls) -> None:
        """Make exchangelib create this adapter; an adapter someone else installed is kept."""
        current = BaseProtocol.HTTP_ADAPTER_CLS
        if current is requests.adapters.HTTPAdapter:
            BaseProtocol.HTTP_ADAPTER_CLS = cls
        elif not issubclass(current, cls):
            log.warning(
                "exchangelib uses the HTTP adapter %s; TLS options of EWS environments are not applied",
                current.__name__,
            )

    @classmethod
    def _setting(cls, url: str) -> bool | ssl.SSLContext | None:
        with cls._lock:
            return cls._verify.get(endpoint_key(url))

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            counters = self._counters.get(endpoint_key(request.url or ""))
            if counters:
                counters[0].add()
        verify = self._setting(request.url or "")
        if verify is not None:
            kwargs["verify"] = verify if isinstance(verify, bool) else True
        response = super().send(request, *args, **kwargs)
        if not kwargs.get("stream", args[0] if args else False):
            _in_blocks(response)
        return response

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        context = self._setting(request.url or "")
        if verify is not False and isinstance(context, ssl.SSLContext):
            pool["ssl_context"] = context  # its own pool: the key includes the context
            pool.pop("ca_certs", None)
            pool.pop("ca_cert_dir", None)
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        if verify is not False and isinstance(self._setting(url), ssl.SSLContext):
            conn.ca_certs = conn.ca_cert_dir = None  # the context holds them already


BLOCK = 64 * 1024


def _in_blocks(response: Any) -> None:
    """exchangelib parses a response from ``iter_content()``, whose default is one byte per chunk:
    a Python call per byte of every answer (a sixth of a first export's CPU). A response that is
    not streamed is in memory already, so it is handed over in blocks."""
    whole = response.iter_content

    def iter_content(chunk_size: int | None = 1, decode_unicode: bool = False) -> Any:
        return whole(BLOCK, decode_unicode)

    response.iter_content = iter_content


def _address_folders_by_name(account: Account) -> None:
    """Name the root and calendar by their distinguished ids instead of fetching them.

    exchangelib asks the server for both folders (two GetFolder requests) the first time an
    account touches its calendar; every EWS operation roomsync uses accepts a distinguished
    folder id with the mailbox in its place, so a cycle needs nothing but its own request.
    """
    mailbox = Mailbox(email_address=account.primary_smtp_address)
    root = Root(
        _distinguished_id=DistinguishedFolderId(id=Root.DISTINGUISHED_FOLDER_ID, mailbox=mailbox),
        account=account,
    )
    calendar = Calendar(
        _distinguished_id=DistinguishedFolderId(id=Calendar.DISTINGUISHED_FOLDER_ID, mailbox=mailbox),
        root=root,
    )
    # exchangelib's cached properties keep their value in the instance dictionary.
    account.__dict__["root"] = root
    account.__dict__["calendar"] = calendar


def _environment_read_once(protocol: BaseProtocol) -> None:
    """Sessions of ``protocol`` take the proxy and CA-bundle variables of the environment once,
    when exchangelib creates them, instead of on every request.

    ``requests`` reads them from ``os.environ`` for each request a session sends (``trust_env``):
    for an empty ``SyncFolderItems`` page that was a quarter of the client's CPU. The session then
    holds what the environment said for the endpoint (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``, ...) and no longer looks; exchangelib gives it the credentials itself,
    so ``.netrc`` never counted. Variables changed later reach sessions created later.
    """
    if getattr(protocol, "_environment_read_once", False):
        return
    create = protocol.create_session
    endpoint = protocol.service_endpoint

    def create_session() -> Any:
        session = create()
        if session.trust_env:
            settings = session.merge_environment_settings(endpoint, {}, None, None, None)
            session.proxies.update(settings["proxies"])
            session.verify = settings["verify"]
            session.trust_env = False
        return session

    protocol.create_session = create_session
    protocol._environment_read_once = True


class MarkedCredentials(Credentials):
    """Credentials that differ from equal ones by a mark: exchangelib keys its connection pools by
    endpoint and credentials, so these get connections of their own."""

    def __init__(self, username: str, password: str, mark: str) -> None:
        super().__init__(username=username, password=password)
        self.mark = mark

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and bool(super().__eq__(other))

    def __hash__(self) -> int:
        return hash((self.mark, super().__hash__()))


class AccountPool:
    """The exchangelib accounts of one environment, one per mailbox, built on first use.

    ``own_connections`` names a pool with connections of its own (see the module's docstring);
    such a pool fails fast, leaving retries and back-off to its user.
    """

    def __init__(
        self,
        options: EwsOptions,
        request_server_version: str,
        own_connections: str | None = None,
        counter: RequestCounter | None = None,
    ) -> None:
        self.options = options
        self.counter = counter
        self.version = pinned_version(request_server_version)
        self.own_connections = own_connections
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()
        self._config: Configuration | None = None

    def _configuration(self) -> Configuration:
        if self._config is None:
            options = self.options
            verify: bool | ssl.SSLContext = options.verify_tls
            if options.verify_tls and options.ca_file is not None:
                verify = trust_context(options.ca_file)
            EndpointTlsAdapter.install()
            EndpointTlsAdapter.register(options.url, verify, self.counter)
            if options.auth == "kerberos" and (missing := kerberos_missing()):
                raise ConfigError(missing, key="auth")
            # With Kerberos the ticket logs on: exchangelib hands GSSAPI no username or password.
            password = options.password.reveal().get_secret_value() if options.password else ""
            own = self.own_connections
            # exchangelib shares one Protocol (version, retry policy, connections) among all
            # configurations with equal endpoint and credentials; a mark of this pool's own keeps
            # two environments on one server (say a 2007 and a 2010 dialect) from sharing it.
            credentials = MarkedCredentials(
                options.username or "", password, f"{own or 'sync'}:{uuid.uuid4()}"
            )
            self._config = Configuration(
                credentials=credentials,
                service_endpoint=options.url,
                auth_type=AUTH_TYPES[options.auth],
                version=self.version,
                retry_policy=FailFast() if own else LogonFailsAtOnce(max_wait=MAX_RETRY_WAIT_SECONDS),
                max_connections=options.max_concurrency,
            )
        return self._config

    def account(self, mailbox: str) -> Account:
        """The account acting in ``mailbox`` (impersonating it or as its delegate)."""
        mailbox = mailbox.strip().lower()
        with self._lock:
            found = self._accounts.get(mailbox)
            if found is None:
                found = Account(
                    primary_smtp_address=mailbox,
                    config=self._configuration(),
                    autodiscover=False,
                    access_type=IMPERSONATION if self.options.access == "impersonation" else DELEGATE,
                    default_timezone=EWSTimeZone(self.options.timezone),
                    locale="en_US",
                )
                _address_folders_by_name(found)
                # One protocol per configuration: the same one for every mailbox of the pool.
                found.protocol.TIMEOUT = self.options.timeouts
                _environment_read_once(found.protocol)
                self._accounts[mailbox] = found
            return found

    def protocol(self) -> Protocol:
        """The pool's protocol, for operations that act in no mailbox (GetRoomLists, GetRooms)."""
        with self._lock:
            protocol = Protocol(config=self._configuration())
        protocol.TIMEOUT = self.options.timeouts
        _environment_read_once(protocol)
        return protocol

    def close(self) -> None:
        """Close the sessions and forget the accounts; a later call builds them again."""
        with self._lock:
            accounts, self._accounts = list(self._accounts.values()), {}
            config, self._config = self._config, None
        protocols = {id(a.protocol): a.protocol for a in accounts}
        for protocol in protocols.values():
            with contextlib.suppress(Exception):
                protocol.close()
        if config is not None:
            EndpointTlsAdapter.unregister(self.options.url, self.counter)
            with contextlib.suppress(KeyError):
                del Protocol[config]  # its cache would otherwise keep every closed pool's protocol
