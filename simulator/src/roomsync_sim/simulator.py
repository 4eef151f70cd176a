"""One simulated Exchange organisation speaking one dialect: the request pipeline.

HTTP concerns (sockets, TLS, keep-alive) live in :mod:`roomsync_sim.server`; this module turns
one HTTP request into one HTTP answer the way Exchange does: authenticate, parse safely, check
the requested version, the operation and (optionally) the schema, apply impersonation, run the
operation under the store's lock, and write the response.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from roomsync_sim.auth import ConnectionAuth, Continue, Directory
from roomsync_sim.context import Context
from roomsync_sim.dialects import Dialect, get_dialect
from roomsync_sim.ews import validation
from roomsync_sim.ews.notifications import Notifier
from roomsync_sim.ews.operations import WRITES, load_all
from roomsync_sim.faults import FaultPlan
from roomsync_sim.request_log import LoggedRequest, RequestLog
from roomsync_sim.seed import DEFAULT_SEED, Seed, User, parse_seed
from roomsync_sim.soap import (
    DEFAULT_MAX_BODY,
    M,
    SoapFault,
    fault_envelope,
    new_envelope,
    parse_request,
    response_root,
    schema_fault,
    serialize,
    split_envelope,
    t,
)
from roomsync_sim.store import Store
from roomsync_sim.timezones import element_zone

log = logging.getLogger("roomsync_sim")

EWS_PATH = "/ews/exchange.asmx"
SCHEMA_FILES = {
    "/ews/services.wsdl": "Services.wsdl",
    "/ews/messages.xsd": "messages.xsd",
    "/ews/types.xsd": "types.xsd",
}


@dataclass
class Answer:
    """What the HTTP layer sends back.

    ``drop`` closes the connection without an answer (``reset`` with a TCP reset); ``delay``
    holds the answer back that many seconds (given up when the client leaves); ``stream`` is
    sent chunk by chunk instead of ``body`` (GetStreamingEvents).
    """

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    reset: bool = False
    delay: float = 0.0
    stream: Iterator[bytes] | None = None


@dataclass(frozen=True)
class Record:
    """A schema violation seen by the simulator (direction: request or response)."""

    direction: str
    operation: str
    message: str


class Simulator:
    """The state and request pipeline of one simulated Exchange server."""

    def __init__(
        self,
        dialect: Dialect | str = "exchange2013",
        seed: dict[str, Any] | None = None,
        *,
        validate: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        state_file: str | Path | None = None,
        auth: Sequence[str] | str | None = None,
        token_lifetime: int | None = None,
    ) -> None:
        """``auth`` names the HTTP schemes offered (overriding the seed's), e.g. ``"basic,ntlm"``;
        ``token_lifetime`` the seconds an o365 access token lives (overriding the seed's)."""
        self.dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        self.operations = load_all()
        self.validate = validate
        self.max_body = max_body
        self.faults = FaultPlan()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.violations: list[Record] = []
        self.requests = RequestLog()  # every EWS request: operation, mailbox, when
        self._seed_data = seed or DEFAULT_SEED
        self._active: Counter[str] = Counter()  # requests in progress per account
        self.notifier = Notifier(self.dialect, self._validate_notification)
        self.persistence: Any = None
        self.store = Store()
        self.directory = Directory(parse_seed(self._seed_data), auth)
        if state_file is not None:
            from roomsync_sim.persistence import Persistence

            self.persistence = Persistence(Path(state_file))
            self.store = self.persistence.load() or self.store
        self.store.listeners.append(self.notifier.on_event)
        self._populate(self.directory.seed)
        if self.persistence is not None:
            self.persistence.start(self)
        # Graph and the sign-in endpoints (the o365 dialect); the schema set is then compiled
        # when the first EWS request needs it.
        self.graph: Any = None
        if self.dialect.graph:
            from roomsync_sim.graph.service import GraphService

            self.graph = GraphService(self, token_lifetime)
        elif validate:
            validation.schema_for(self.dialect)

    def close(self) -> None:
        """End open streams and push deliveries; write the state file one last time."""
        self.notifier.close()
        if self.graph is not None:
            self.graph.close()
        if self.persistence is not None:
            self.persistence.stop()

    def _validate_notification(self, envelope: etree._Element) -> None:
        if not self.validate:
            return
        problems = validation.validate_response(self.dialect, envelope)
        if problems:
            with self._lock:
                self.violations.extend(Record("response", "notification", v.message) for v in problems)
            log.error("invalid notification: %s", problems[0].message)

    # --- state -------------------------------------------------------------------------------

    def _populate(self, seed: Seed) -> None:
        for user in seed.users:
            self.store.add_mailbox(user.smtp, user.name, user.kind)

    def reset(self, seed: dict[str, Any] | None = None) -> None:
        """Forget every item and count; optionally load another seed."""
        if seed is not None:
            self._seed_data = seed
        parsed = parse_seed(self._seed_data)
        with self.store.lock:
            self.store = Store()
            self.store.listeners.append(self.notifier.on_event)
            if self.persistence is not None:
                self.persistence.attach(self.store)
            self.directory.load(parsed)
            self._populate(parsed)
            if self.graph is not None:
                self.graph.load()
        with self._lock:
            self.counts.clear()
            self.violations.clear()
        self.requests.clear()
        self.faults.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
            active = {k: v for k, v in self._active.items() if v}
        return {
            "active": active,
            "dialect": self.dialect.name,
            "counts": counts,
            "store": self.store.stats(),
            "faults": self.faults.to_list(),
            "notifications": self.notifier.stats(),
            "validate": self.validate,
            "violations": [r.__dict__ for r in self.violations],
            **({"graph": self.graph.stats()} if self.graph is not None else {}),
        }

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    # --- HTTP entry points -------------------------------------------------------------------

    def unauthorized(self) -> Answer:
        return Answer(401, b"", [("WWW-Authenticate", c) for c in self.directory.challenges()])

    def _authenticate(self, authorization: str | None, connection: ConnectionAuth | None) -> User | Answer:
        """The caller, or the 401 to answer: every challenge, or the next NTLM message."""
        outcome = self.directory.authenticate(authorization, connection)
        if isinstance(outcome, Continue):
            return Answer(401, b"", [("WWW-Authenticate", outcome.header)])
        return self.unauthorized() if outcome is None else outcome

    def schema_document(
        self, path: str, authorization: str | None, connection: ConnectionAuth | None = None
    ) -> Answer | None:
        name = SCHEMA_FILES.get(path.lower())
        if name is None:
            return None
        refused = self._authenticate(authorization, connection)
        if isinstance(refused, Answer):
            return refused
        return Answer(
            200, self.dialect.schema_file(name).read_bytes(), [("Content-Type", "text/xml; charset=utf-8")]
        )

    def handle_ews(
        self,
        body: bytes,
        authorization: str | None,
        soap_action: str | None,
        connection: ConnectionAuth | None = None,
    ) -> Answer:
        """Answer one EWS request; ``connection`` holds the NTLM state of its TCP connection."""
        user = self._authenticate(authorization, connection)
        if isinstance(user, Answer):
            return user
        # EWSMaxConcurrency: requests of one account in progress at once (a fault rule sets it).
        limit = self.faults.peek("concurrency")
        with self._lock:
            refused = limit is not None and self._active[user.smtp] >= limit.limit
            if not refused:
                self._active[user.smtp] += 1
        if refused:
            self._count("_exceeded_connection_count")
            self.faults.take("concurrency", None)
            fault = SoapFault(
                "ErrorExceededConnectionCount",
                "You have exceeded the maximum number of concurrent connections for your account.",
            )
            return Answer(
                500, fault_envelope(fault, self.dialect), [("Content-Type", "text/xml; charset=utf-8")]
            )
        logged = self.requests.begin(user.smtp)
        answer = Answer(0, drop=True)
        try:
            answer = self._handle_ews(user, body, soap_action, logged)
            return answer
        finally:
            self.requests.end(logged, answer.status)
            with self._lock:
                self._active[user.smtp] -= 1

    def _handle_ews(self, user: User, body: bytes, soap_action: str | None, logged: LoggedRequest) -> Answer:
        operation = "?"
        try:
            root = parse_request(body)
            env = split_envelope(root)
            operation = logged.operation = env.operation
            self._count(operation)
            self._check_operation(env.operation_ns, operation, soap_action)
            if self.faults.take("reset", operation):
                return Answer(0, drop=True, reset=True)
            slow = self.faults.take("slow", operation)
            latency = self.faults.take("latency", operation)
            if latency:
                time.sleep(latency.ms / 1000)
            if self.faults.take("http_503", operation):
                return Answer(503, b"Service Unavailable", [("Content-Type", "text/html")])
            busy = self.faults.take("server_busy", operation)
            if busy:
                raise SoapFault(
                    "ErrorServerBusy",
                    message_xml=[("Value", str(busy.back_off_ms), {"Name": "BackOffMilliseconds"})],
                )
            version = self._check_version(env.headers.get("RequestServerVersion"))
            if self.validate:
                violations = validation.validate_request(self.dialect, env.header, env.body)
                if violations:
                    with self._lock:
                        self.violations.extend(Record("request", operation, v.message) for v in violations)
                    first = violations[0]
                    raise schema_fault(first.message, first.line, first.position)
            identity = logged.mailbox = self._identity(user.smtp, env.headers.get("ExchangeImpersonation"))
            tz = None
            if self.dialect.time_zone_context and "TimeZoneContext" in env.headers:
                tz = element_zone(env.headers["TimeZoneContext"].find(t("TimeZoneDefinition")))
            ctx = Context(
                self.store, self.directory, self.dialect, version, user, identity, tz, self.notifier
            )
            envelope, soap_body = new_envelope(self.dialect)
            _, messages = response_root(soap_body, operation)
            with self.store.lock:
                self.operations[operation](ctx, env.body, messages)
            if self.validate and ctx.stream is None:  # a stream checks each of its envelopes
                problems = validation.validate_response(self.dialect, envelope)
                if problems:
                    with self._lock:
                        self.violations.extend(Record("response", operation, v.message) for v in problems)
                    log.error("invalid %s response: %s", operation, problems[0].message)
            if ctx.stream is not None:
                return Answer(200, headers=[("Content-Type", "text/xml; charset=utf-8")], stream=ctx.stream)
            if operation in WRITES and self.faults.take("drop_after_apply", operation):
                return Answer(0, drop=True)
            return Answer(
                200,
                serialize(envelope),
                [("Content-Type", "text/xml; charset=utf-8")],
                delay=slow.ms / 1000 if slow else 0.0,
            )
        except SoapFault as fault:
            return Answer(
                fault.status,
                fault_envelope(fault, self.dialect),
                [("Content-Type", "text/xml; charset=utf-8")],
            )
        except Exception:
            log.exception("internal error in %s", operation)
            internal = SoapFault("ErrorInternalServerError")
            return Answer(
                500, fault_envelope(internal, self.dialect), [("Content-Type", "text/xml; charset=utf-8")]
            )

    def too_large(self) -> Answer:
        """IIS/WCF refuse a body over the limit before EWS sees it: 413, no SOAP."""
        self._count("_too_large")
        return Answer(413, b"Request Entity Too Large", [("Content-Type", "text/html")])

    # --- checks ---------------------------------------------------------------------------------

    def _check_operation(self, namespace: str | None, operation: str, soap_action: str | None) -> None:
        action = (soap_action or "").strip().strip('"')
        known = namespace == M and self.dialect.supports_operation(operation)
        if known and action and action.rsplit("/", 1)[-1] != operation:
            known = False
        if not known:
            shown = action or f"{M}/{operation}"
            if self.dialect.wcf:
                raise SoapFault(
                    "ActionNotSupported",
                    faultcode="ActionNotSupported",
                    faultstring=(
                        f"The message with Action '{shown}' cannot be processed at the receiver, due to a "
                        "ContractFilter mismatch at the EndpointDispatcher. This may be because of either a "
                        "contract mismatch (mismatched Actions between sender and receiver) or a "
                        "binding/security mismatch between the sender and the receiver.  Check that sender "
                        "and receiver have the "
                        "same contract and the same binding (including security requirements, e.g. Message, "
                        "Transport, None)."
                    ),
                )
            raise SoapFault(
                "Client",
                faultcode="soap:Client",
                faultstring=f"Server did not recognize the value of HTTP Header SOAPAction: {shown}.",
            )
        if operation not in self.operations:
            raise SoapFault(
                "ErrorInvalidOperation", f"The operation {operation} is not supported by this server."
            )

    def _check_version(self, header: etree._Element | None) -> str:
        version = header.get("Version") if header is not None else "Exchange2007"
        if version not in self.dialect.accepted_versions:
            raise SoapFault("ErrorInvalidServerVersion")
        return str(version)

    def _identity(self, caller: str, impersonation: etree._Element | None) -> str:
        if impersonation is None:
            return caller
        sid = impersonation.find(t("ConnectingSID"))
        target = None
        if sid is not None:
            for child in sid:
                if isinstance(child.tag, str) and child.text:
                    target = child.text.strip()
                    break
        if not target:
            raise schema_fault("ConnectingSID names no user.")
        user = self.directory.resolve(target)
        if user is None:
            raise SoapFault("ErrorNonExistentMailbox")
        denial = self.directory.impersonation_denial(caller, user.smtp, self.dialect.ad_impersonation)
        if denial == "ErrorImpersonationDenied":
            raise SoapFault(denial, "The account does not have permission to impersonate on this server.")
        if denial is not None:
            raise SoapFault(denial)
        return user.smtp
