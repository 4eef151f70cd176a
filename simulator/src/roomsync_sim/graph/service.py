"""The Graph request pipeline of the ``o365`` dialect, and the sign-in endpoints beside it.

One :class:`GraphService` belongs to a simulator. For each Graph request it checks the bearer
token, routes the path, applies the fault rules (the EWS dialects' ``latency``, ``http_503``,
``server_busy`` as 429, ``reset``, ``slow``, ``drop_after_apply``), checks that the app may use
the mailbox (application permissions and access policy: 403 ``ErrorAccessDenied``), enforces
MailboxConcurrency (at most 4 requests of one app on one mailbox at once, 429 with
``Retry-After`` beyond) and runs the handler under the tenant store's lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from roomsync_sim.context import Context, OperationError
from roomsync_sim.dialects import EXCHANGE2013
from roomsync_sim.graph import auth, authorize, errors
from roomsync_sim.graph.errors import GraphError
from roomsync_sim.graph.odata import Query
from roomsync_sim.graph.router import Match, Router
from roomsync_sim.graph.serialize import View
from roomsync_sim.graph.tenants import App, Tenant, build_tenant, extra_tenants
from roomsync_sim.seed import User

if TYPE_CHECKING:
    from roomsync_sim.simulator import Answer, Simulator

log = logging.getLogger("roomsync_sim.graph")

GRAPH_PREFIX = "/v1.0"
MAILBOX_CONCURRENCY = 4
JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON, or bytes for a non-JSON body
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Call:
    """One Graph request as a handler sees it."""

    service: GraphService
    method: str
    path: str
    query: Query
    raw_query: str
    headers: dict[str, str]
    body: Any
    principal: auth.Principal
    base: str  # the service root, e.g. https://localhost:8443/v1.0
    params: dict[str, str] = field(default_factory=dict)
    smtp: str = ""  # the mailbox the path names

    @property
    def tenant(self) -> Tenant:
        return self.principal.tenant

    @property
    def app(self) -> App:
        return self.principal.app

    def prefer(self, name: str) -> str | None:
        """A ``Prefer`` preference (``outlook.timezone``, ``odata.maxpagesize``)."""
        for part in self.headers.get("prefer", "").split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == name.lower():
                return value.strip().strip('"')
        return None

    def view(self) -> View:
        zone = self.prefer("outlook.timezone") or "UTC"
        from roomsync_sim.graph import timefmt

        timefmt.zone(zone)  # 400 for an unknown zone
        body = (self.prefer("outlook.body-content-type") or "html").lower()
        return View(self.tenant, zone, body == "text")

    def context(self) -> Context:
        """A store context acting as the mailbox's owner (for the meetings code)."""
        caller = User(smtp=f"app:{self.app.client_id}", name=self.app.name)
        return Context(
            self.tenant.store, self.tenant.directory, EXCHANGE2013, "Exchange2016", caller, self.smtp
        )


class GraphService:
    """Tenants, tokens and the Graph API of one simulator."""

    def __init__(self, simulator: Simulator, token_lifetime: int | None = None) -> None:
        self.simulator = simulator
        self.token_lifetime = token_lifetime  # overrides the seed's token_lifetime_seconds
        self.issuer = auth.Issuer()
        self.router = Router()
        self.mailbox_concurrency: int | None = MAILBOX_CONCURRENCY
        self.retry_after_seconds = 1
        self._lock = threading.Lock()
        self._active: Counter[tuple[str, str, str]] = Counter()
        self.tenants: dict[str, Tenant] = {}
        self._redirect_uris: list[tuple[str | None, str | None, str, str]] = []  # kept over resets
        from roomsync_sim.graph import batch, delta, directory, events, schedule, subscriptions

        self.delta = delta.DeltaStates()
        self.subscriptions = subscriptions.Subscriptions(self)
        for module in (events, delta, schedule, batch, subscriptions, directory):
            module.register(self.router)
        self.load()

    # --- tenants -------------------------------------------------------------------------------

    def load(self) -> None:
        """(Re)build the tenants from the simulator's seed; the first uses the simulator's store."""
        sim = self.simulator
        data = sim._seed_data
        first = build_tenant(
            data,
            str(data.get("tenant_id") or "00000000-0000-0000-0000-00000000aaaa"),
            sim.store,
            sim.directory,
        )
        tenants = [first, *extra_tenants(data)]
        for tenant in tenants:
            if self.token_lifetime is not None:
                tenant.token_lifetime = self.token_lifetime
        self.tenants = {t.id: t for t in tenants}
        self.delta.clear()
        self.subscriptions.clear()
        for tenant in tenants:
            tenant.store.listeners.append(self.subscriptions.listener(tenant))
        for tenant_id, client_id, uri, platform in self._redirect_uris:
            with contextlib.suppress(KeyError):  # a reset's seed may not have that app
                self._app(tenant_id, client_id).add_redirect_uri(uri, platform)

    def _app(self, tenant_id: str | None, client_id: str | None) -> App:
        tenant = self.tenant(tenant_id) if tenant_id else next(iter(self.tenants.values()))
        if tenant is None:
            raise KeyError(tenant_id)
        return tenant.apps[client_id.lower()] if client_id else next(iter(tenant.apps.values()))

    def register_redirect_uri(
        self,
        uri: str,
        client_id: str | None = None,
        tenant_id: str | None = None,
        platform: str = "spa",
    ) -> App:
        """Register a redirect URI on an app while the simulator runs (kept over ``/_sim/reset``):
        the first app of the first tenant unless named; ``platform`` ``spa`` (PKCE, redeemed
        cross-origin, CORS on the token endpoint for its origin) or ``publicClient`` (mobile and
        desktop, loopback with any port). KeyError for an unknown tenant or app, ValueError for a
        URI Entra would not take."""
        app = self._app(tenant_id, client_id)
        app.add_redirect_uri(uri, platform)
        self._redirect_uris.append((tenant_id, client_id, uri, platform))
        return app

    def tenant(self, name: str) -> Tenant | None:
        """A tenant by id or by one of its domains (as an authority may name it)."""
        key = name.lower()
        if key in self.tenants:
            return self.tenants[key]
        return next((t for t in self.tenants.values() if key in t.domains), None)

    def close(self) -> None:
        self.subscriptions.close()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            active = {"/".join(k): v for k, v in self._active.items() if v}
        return {
            "tenants": [
                {"id": t.id, "domains": t.domains, "apps": sorted(t.apps), "store": t.store.stats()}
                for t in self.tenants.values()
            ],
            "active": active,
            "subscriptions": self.subscriptions.stats(),
            "delta_states": len(self.delta.states),
            "mailbox_concurrency": self.mailbox_concurrency,
        }

    def access_token(
        self, tenant_id: str | None = None, client_id: str | None = None, lifetime: int | None = None
    ) -> str:
        """A token minted in-process, as the token endpoint would issue it (for tests)."""
        tenant = self.tenant(tenant_id) if tenant_id else next(iter(self.tenants.values()))
        if tenant is None:
            raise KeyError(tenant_id)
        app = tenant.apps[client_id.lower()] if client_id else next(iter(tenant.apps.values()))
        return self.issuer.issue(tenant, app, lifetime or tenant.token_lifetime)

    # --- HTTP entry point ------------------------------------------------------------------------

    def handles(self, path: str) -> bool:
        lowered = path.lower()
        if lowered == GRAPH_PREFIX or lowered.startswith(GRAPH_PREFIX + "/"):
            return True
        parts = lowered.strip("/").split("/")
        return lowered.startswith(("/common/discovery/instance", "/common/userrealm/")) or (
            len(parts) >= 2 and (parts[1] in ("oauth2", "v2.0", "discovery", ".well-known"))
        )

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, base: str) -> Answer:
        from roomsync_sim.simulator import Answer

        path, _, query = target.partition("?")
        if path.lower() == GRAPH_PREFIX or path.lower().startswith(GRAPH_PREFIX + "/"):
            return self._graph(method, path[len(GRAPH_PREFIX) :] or "/", query, headers, body, base)
        browser = self._browser(method, path, query, headers, body)
        if browser is not None:
            return browser
        status, payload, kind = self._login(method, path, query, headers, body, base)
        self.simulator._count(kind)
        answer_headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Cache-Control", "no-store, no-cache"),
        ]
        if kind == "token":
            answer_headers += self._cors(path, headers, body)
        return Answer(status, json.dumps(payload).encode(), answer_headers)

    def _browser(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Answer | None:
        """What a browser asks: the authorize endpoint (HTML and redirects) and the token
        endpoint's CORS preflight; None for the JSON endpoints."""
        from roomsync_sim.simulator import Answer

        parts = [unquote(p) for p in path.strip("/").split("/")]
        rest = [p.lower() for p in parts[1:]]
        if rest == ["oauth2", "v2.0", "authorize"] and method in ("GET", "POST"):
            tenant = self.tenant(parts[0])
            page = authorize.authorize(self.issuer, tenant, parts[0], method, path, query, body)
            self.simulator._count(page.kind)
            return Answer(page.status, page.body, page.headers())
        if rest == ["oauth2", "v2.0", "token"] and method == "OPTIONS":
            self.simulator._count("token-preflight")
            cors = self._cors(path, headers, b"")
            if cors:
                requested = headers.get("access-control-request-headers") or "content-type"
                cors += [
                    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
                    ("Access-Control-Allow-Headers", requested),
                    ("Access-Control-Max-Age", "86400"),
                ]
            return Answer(204, b"", cors)
        return None

    def _cors(self, path: str, headers: dict[str, str], body: bytes) -> list[tuple[str, str]]:
        """``Access-Control-Allow-Origin`` for a browser whose origin is that of a registered SPA
        redirect URI (Entra redeems an SPA's codes only cross-origin); nothing for other origins."""
        origin = headers.get("origin")
        if not origin:
            return []
        name = unquote(path.strip("/").split("/")[0])
        fields = parse_qs(body.decode("utf-8", "replace"))
        client_id = (fields.get("client_id") or [""])[0].strip().lower() or None
        allowed = authorize.allowed_origin(self.tenant(name), origin, client_id)
        if allowed is None:
            return [("Vary", "Origin")]
        return [("Access-Control-Allow-Origin", allowed), ("Vary", "Origin")]

    def _login(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, base: str
    ) -> tuple[int, dict[str, Any], str]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        lowered = [p.lower() for p in parts]
        if lowered[:1] == ["common"] and method == "GET" and (found := self._common(parts, query, base)):
            return found
        name = parts[0] if parts else ""
        tenant = self.tenant(name)
        rest = lowered[1:]
        if rest == ["oauth2", "v2.0", "token"] and method == "POST":
            try:
                accepted = [f"{base}/{name}/oauth2/v2.0/token"]
                if tenant is not None:
                    accepted.append(f"{base}/{tenant.id}/oauth2/v2.0/token")
                payload = self.issuer.token(
                    tenant, name, body, headers.get("authorization"), accepted, base, headers.get("origin")
                )
                return 200, payload, "token"
            except auth.TokenError as e:
                return e.status, e.body(), "token"
        if rest in (["v2.0", ".well-known", "openid-configuration"], [".well-known", "openid-configuration"]):
            if tenant is None:
                return (
                    400,
                    {
                        "error": "invalid_tenant",
                        "error_description": f"AADSTS90002: Tenant '{name}' not found.",
                    },
                    "openid-configuration",
                )
            return 200, auth.openid_configuration(base, tenant), "openid-configuration"
        if rest in (["discovery", "v2.0", "keys"], ["discovery", "keys"]) and method == "GET":
            return 200, self.issuer.jwks(), "keys"
        return (
            404,
            {"error": "not_found", "error_description": f"No endpoint {method} {path}."},
            "login-unknown",
        )

    def _common(self, parts: list[str], query: str, base: str) -> tuple[int, dict[str, Any], str] | None:
        """``GET /common/...``: msal's instance discovery and user realm discovery."""
        lowered = [p.lower() for p in parts]
        if lowered[:3] == ["common", "discovery", "instance"]:
            return 200, auth.instance_discovery(base, query), "instance-discovery"
        if lowered[:2] == ["common", "userrealm"] and len(parts) == 3:
            return 200, auth.user_realm(base, parts[2], self.tenants.values()), "user-realm"
        return None

    def _graph(
        self, method: str, path: str, query: str, headers: dict[str, str], raw: bytes, base: str
    ) -> Answer:
        from roomsync_sim.simulator import Answer

        request_id = errors.new_request_id()
        client_request_id = headers.get("client-request-id")
        faults = self.simulator.faults
        match = self.router.match(method, path)
        kind = match.route.kind if isinstance(match, Match) else "unknown"
        if faults.take("reset", kind):
            return Answer(0, drop=True, reset=True)
        slow = faults.take("slow", kind)
        try:
            body = json.loads(raw) if raw.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = _INVALID
        try:
            principal = self.issuer.check(headers.get("authorization"), self.tenants)
            reply = self.execute(principal, method, path, query, headers, body, base + GRAPH_PREFIX)
        except GraphError as e:
            reply = Reply(e.status, e.body(request_id, client_request_id), e.headers)
        writes = isinstance(match, Match) and match.route.writes
        if writes and reply.status < 400 and faults.take("drop_after_apply", kind):
            return Answer(0, drop=True)
        return self._answer(reply, request_id, client_request_id, slow.ms / 1000 if slow else 0.0)

    def _answer(
        self, reply: Reply, request_id: str, client_request_id: str | None, delay: float = 0.0
    ) -> Answer:
        from roomsync_sim.simulator import Answer

        headers = [
            ("request-id", request_id),
            ("client-request-id", client_request_id or request_id),
            ("x-ms-ags-diagnostic", '{"ServerInfo":{"DataCenter":"Simulated","Slice":"E","Ring":"5"}}'),
            ("OData-Version", "4.0"),
        ]
        headers += reply.headers
        if reply.body is None:
            return Answer(reply.status, b"", headers, delay=delay)
        if isinstance(reply.body, bytes):
            return Answer(reply.status, reply.body, headers, delay=delay)
        return Answer(
            reply.status,
            json.dumps(reply.body).encode(),
            [("Content-Type", JSON_TYPE), *headers],
            delay=delay,
        )

    # --- one request (also each request of a batch) --------------------------------------------------

    def execute(
        self,
        principal: auth.Principal,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: Any,
        base: str,
    ) -> Reply:
        request_id = errors.new_request_id()
        try:
            return self._execute(principal, method.upper(), path, query, headers, body, base)
        except GraphError as e:
            return Reply(e.status, e.body(request_id, headers.get("client-request-id")), e.headers)
        except OperationError as e:
            error = errors.from_operation(e)
            return Reply(error.status, error.body(request_id), error.headers)
        except Exception:
            log.exception("internal error in %s %s", method, path)
            return Reply(
                500, errors.error_body("generalException", "An internal server error occurred.", request_id)
            )

    def _execute(
        self,
        principal: auth.Principal,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: Any,
        base: str,
    ) -> Reply:
        sim = self.simulator
        match = self.router.match(method, path)
        if match is None:
            segment = path.strip("/").split("/")[-1] or path
            if path.lower().startswith("/me/") or path.lower() == "/me":
                raise GraphError(
                    400, "BadRequest", "/me request is only valid with delegated authentication flow."
                )
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
        if isinstance(match, str):
            raise GraphError(
                405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed; allowed: {match}."
            )
        route = match.route
        sim._count(route.kind)
        faults = sim.faults
        latency = faults.take("latency", route.kind)
        delay = latency.ms / 1000 if latency else 0.0
        if faults.take("http_503", route.kind):
            raise GraphError(
                503, "ServiceUnavailable", "The service is temporarily unavailable.", [("Retry-After", "1")]
            )
        busy = faults.take("server_busy", route.kind)
        if busy:
            seconds = max(1, -(-busy.back_off_ms // 1000))
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                [("Retry-After", str(seconds))],
            )
        if body is _INVALID:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type "
                "header is set and payload is of valid JSON format.",
            )
        call = Call(
            self, method, path, Query.parse(query), query, headers, body, principal, base, match.params
        )
        if route.mailbox:
            smtp = principal.tenant.resolve_user(match.params["user"])
            if smtp is None:
                raise GraphError(
                    404, "ErrorInvalidUser", f"The requested user '{match.params['user']}' is invalid."
                )
            call.smtp = smtp
            self.authorize(principal, smtp, write=route.writes)
            slot = (principal.tenant.id, principal.app.client_id, smtp)
            self._enter(slot)
            try:
                time.sleep(delay)  # the request is in progress meanwhile (MailboxConcurrency)
                return self._run(route, call)
            finally:
                with self._lock:
                    self._active[slot] -= 1
        time.sleep(delay)
        return self._run(route, call)

    def _run(self, route: Any, call: Call) -> Reply:
        if route.locked:
            with call.tenant.store.lock:
                return route.handler(call)
        return route.handler(call)

    def authorize(self, principal: auth.Principal, smtp: str, write: bool) -> None:
        app = principal.app
        if not app.can(write):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if not app.may_access(smtp):
            raise GraphError(
                403,
                "ErrorAccessDenied",
                "Access to OData is disabled: [RAOP] : Blocked by tenant configured "
                "AppOnly AccessPolicy settings.",
            )

    def _enter(self, slot: tuple[str, str, str]) -> None:
        """MailboxConcurrency: one more request of this app on this mailbox, or 429."""
        rule = self.simulator.faults.peek("concurrency")
        limit = rule.limit if rule is not None else self.mailbox_concurrency
        with self._lock:
            refused = limit is not None and self._active[slot] >= limit
            if not refused:
                self._active[slot] += 1
        if refused:
            self.simulator._count("_throttled")
            if rule is not None:
                self.simulator.faults.take("concurrency", None)
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                [("Retry-After", str(self.retry_after_seconds))],
            )


_INVALID = object()
