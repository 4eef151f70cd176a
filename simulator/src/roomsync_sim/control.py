"""The JSON control endpoint under ``/_sim/`` for tests, benchmarks and the demo.

- ``GET /_sim/stats``: dialect, request counts per operation, store size, faults, violations;
- ``POST /_sim/reset``: empty the store and counters (body: optional seed document);
- ``POST /_sim/faults``: add a rule (``{"kind": "server_busy", "count": 1, "back_off_ms": 50}``);
- ``DELETE /_sim/faults`` (or ``POST /_sim/faults/clear``): remove all rules;
- ``POST /_sim/validation``: ``{"enabled": true}`` switches schema validation;
- ``POST /_sim/notifications``: test switches of notifications: ``{"minute_seconds": 0.5}``
  (real seconds per subscription minute: pull Timeout, push StatusFrequency, streaming
  ConnectionTimeout and keep-alives), ``{"allow_remote_callbacks": true}`` (push callbacks
  beyond loopback);
- ``POST /_sim/state``: write the state file now (with ``--state``).
- ``POST /_sim/redirect_uris`` (o365): register a redirect URI on an app,
  ``{"redirect_uri": "https://...", "client_id": "...", "tenant": "...", "platform": "spa"}``
  (all but ``redirect_uri`` optional: the first app of the first tenant, the SPA platform).
"""

from __future__ import annotations

import json
from typing import Any

from roomsync_sim.seed import SeedError
from roomsync_sim.simulator import Simulator

PREFIX = "/_sim/"


def handle(sim: Simulator, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    route = path.split("?", 1)[0][len(PREFIX) :].strip("/")
    try:
        data = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError as e:
        return 400, {"error": f"invalid JSON: {e}"}
    try:
        if method == "GET" and route == "stats":
            return 200, sim.stats()
        if method == "POST" and route == "reset":
            sim.reset(data or None)
            return 200, {"ok": True}
        if route == "faults" and method == "POST":
            rule = sim.faults.add(
                str(data.get("kind")),
                count=data.get("count"),
                operations=data.get("operations"),
                ms=int(data.get("ms", 0)),
                back_off_ms=int(data.get("back_off_ms", 1000)),
                limit=int(data.get("limit", 0)),
            )
            return 200, rule.to_dict()
        if (route == "faults" and method == "DELETE") or (route == "faults/clear" and method == "POST"):
            sim.faults.clear()
            return 200, {"ok": True}
        if route == "notifications" and method == "POST":
            notifier = sim.notifier
            with notifier.cond:
                if "minute_seconds" in data:
                    value = float(data["minute_seconds"])
                    if not 0.01 <= value <= 60:
                        raise ValueError("minute_seconds must be between 0.01 and 60")
                    notifier.minute_seconds = value
                if "allow_remote_callbacks" in data:
                    notifier.allow_remote_callbacks = bool(data["allow_remote_callbacks"])
                notifier.cond.notify_all()
            return 200, notifier.stats()
        if route == "state" and method == "POST":
            if sim.persistence is None:
                return 409, {"error": "the simulator was started without a state file"}
            sim.persistence.save(sim)
            return 200, {"saved": str(sim.persistence.path)}
        if route == "redirect_uris" and method == "POST" and sim.graph is not None:
            if not data.get("redirect_uri"):
                raise ValueError("redirect_uri is required")
            try:
                app = sim.graph.register_redirect_uri(
                    str(data["redirect_uri"]),
                    data.get("client_id"),
                    data.get("tenant"),
                    str(data.get("platform", "spa")),
                )
            except KeyError as e:
                return 404, {"error": f"no such tenant or app: {e}"}
            return 200, {
                "client_id": app.client_id,
                "redirect_uris": app.redirect_uris,
                "public_client_redirect_uris": app.public_client_redirect_uris,
            }
        if route == "validation" and method == "POST":
            sim.validate = bool(data.get("enabled", True))
            return 200, {"validate": sim.validate}
    except (ValueError, SeedError) as e:
        return 400, {"error": str(e)}
    return 404, {"error": f"no control route {method} {route!r}"}
