"""A whole installation for the web service's tests: simulators, configuration, ``roomsync serve``.

Two simulated Exchange organisations over real HTTP(S): Exchange 2013 over EWS (environment
``onprem``: alice, bob and the rooms) and an Exchange Online tenant over Graph (environment
``online``: erin), which is also the OpenID Connect issuer of people's tokens. A third
environment ``broken`` is the EWS server with a wrong password (carol fails there). The
service runs as ``roomsync serve`` in a child process, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from roomsync.domain import Person, Room
from roomsync.plugins import connector_class
from roomsync.storage import Database
from roomsync.testkit.databases import empty_database_url
from roomsync_ews_common.testing import SimulatorUser
from roomsync_ews_common.testing import simulator_options as ews_simulator_options
from roomsync_o365.testing import SECRET_ENV, free_port, simulator_options
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.testing import running_simulator

EWS_PASSWORD_ENV = "ROOMSYNC_TEST_WEB_EWS_PASSWORD"
WRONG_PASSWORD_ENV = "ROOMSYNC_TEST_WEB_WRONG_PASSWORD"
AUDIENCE = "api://roomsync"
TOKEN_SECONDS = 6
"""The tenant's token lifetime: short, so a test can watch a token expire."""
ALICE, BOB, CAROL, ERIN = "alice@example.org", "bob@example.org", "carol@example.org", "erin@example.org"
FRANK, OTHER_TENANT = "frank@subsidiary.example", "00000000-0000-0000-0000-00000000cccc"
ROOM1, ROOM2, ROOM3 = "room.1@example.org", "room.2@example.org", "room.3@example.org"
_LISTENING = re.compile(r"roomsync web service on (https?://\S+)")


def next_weekday_at(hour: int, days: int = 3) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


@dataclass
class Installation:
    directory: Path
    config: Path
    database: Database
    ews: Any
    graph: Any
    env: dict[str, str]
    url: str = ""
    process: subprocess.Popen[str] | None = None
    keys: dict[str, str] = field(default_factory=dict)

    def roomsync(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from roomsync.cli.main import main; main()",
                "--config",
                str(self.config),
                *args,
            ],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, f"roomsync {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def key(self, scope: str, person: str | None = None) -> str:
        """An API key of ``scope`` (made once per scope and person, with the command line)."""
        name = f"{scope}:{person or 'service'}"
        if name not in self.keys:
            args = ["--json", "api-key", "add", name, "--scope", scope]
            if person:
                args += ["--person", person]
            self.keys[name] = json.loads(self.roomsync(*args).stdout)["key"]
        return self.keys[name]

    def client(self, credential: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, trust_env=False)

    def person_token(self, email: str, password: str, tenant: str | None = None) -> str:
        """A person's access token for this API, from the o365 simulator's password grant."""
        answer = httpx.post(
            f"{self.graph.login_url}/{tenant or self.graph.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "password",
                "client_id": self.graph.client_id,
                "scope": f"{AUDIENCE}/access_as_user",
                "username": email,
                "password": password,
            },
            verify=ssl.create_default_context(cafile=str(self.graph.ca_file)),
            trust_env=False,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def serve(self, *args: str, port: int | None = None) -> None:
        """``roomsync serve`` in a child process, until :meth:`stop`; ``url`` is where it listens."""
        port = port or free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from roomsync.cli.main import main; main()",
                "--config",
                str(self.config),
                "serve",
                "--port",
                str(port),
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "serve.log").open("w", encoding="utf-8"),
            text=True,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        log = self.directory / "serve.log"
        while time.monotonic() < deadline:
            found = _LISTENING.search(log.read_text(encoding="utf-8"))
            if found:
                self.url = found.group(1)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"roomsync serve did not start:\n{log.read_text(encoding='utf-8')}")

    def outlook(self) -> SimulatorUser:
        """Alice and Bob in Outlook: exchangelib with their own credentials, beside roomsync."""
        cls = connector_class("exchange2013", "onprem")
        return SimulatorUser(self.ews.ews_url, cls.request_server_version, cls)

    def log(self) -> str:
        return (self.directory / "serve.log").read_text(encoding="utf-8")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _seed() -> dict[str, Any]:
    seed = deepcopy(DEFAULT_SEED)
    seed["users"].append({"smtp": CAROL, "name": "Carol Clark", "password": "carol-password"})
    seed["rooms"].append({"smtp": ROOM3, "name": "Room 3"})
    return seed


def _graph_seed() -> dict[str, Any]:
    return {
        "token_lifetime_seconds": TOKEN_SECONDS,
        # the web service receives Graph's notifications on plain-http loopback (Graph: https only)
        "allow_http_notification_url": True,
        "users": [
            {"smtp": ALICE, "name": "Alice Adams", "password": "alice-password"},
            {"smtp": BOB, "name": "Bob Brown", "password": "bob-password"},
            {"smtp": ERIN, "name": "Erin Evans", "password": "erin-password"},
        ],
        "rooms": [],
        # Another organisation on the same identity platform: its tokens are signed by the same
        # keys (as Entra ID's are, across tenants) but name another issuer.
        "tenants": [
            {
                "id": OTHER_TENANT,
                "domains": ["subsidiary.example"],
                "users": [{"smtp": FRANK, "name": "Frank Fischer", "password": "frank-password"}],
            }
        ],
    }


def _config(directory: Path, url: str, ews: Any, graph: Any, serve_port: int | None) -> str:
    online = simulator_options(graph)
    if serve_port is not None:  # Graph posts its notifications to the web service
        online["notification_url"] = f"http://127.0.0.1:{serve_port}/webhooks/graph/online"
        online["webhook_bind"] = f"127.0.0.1:{free_port()}"  # must stay closed: the service receives
    ews_options = ews_simulator_options(ews.ews_url, password={"env": EWS_PASSWORD_ENV})
    broken = ews_simulator_options(ews.ews_url, password={"env": WRONG_PASSWORD_ENV})
    lines = [f'data_dir = "data"\ndatabase_url = "{url}"\n']
    for name, plugin, options in (
        ("onprem", "exchange2013", ews_options),
        ("online", "o365", online),
        ("broken", "exchange2013", broken),
    ):
        lines.append(f'[environments.{name}]\nplugin = "{plugin}"\n[environments.{name}.options]\n')
        lines += [f"{k} = {_toml(v)}\n" for k, v in options.items()]
    lines.append(
        f'[web]\nrate_limit = "100000/minute"\ncors_origins = ["https://rooms.example.org"]\n'
        f'[web.oidc]\nissuer = "{graph.login_url}/{graph.tenant_id}/v2.0"\naudience = "{AUDIENCE}"\n'
        f'ca_file = "{graph.ca_file}"\nadmins = ["erin@example.org"]\nleeway_seconds = 0\n'
        f'client_id = "{graph.client_id}"\n'
    )
    return "".join(lines)


@contextmanager
def installation(
    directory: Path, database: str = "sqlite", serve_port: int | None = None
) -> Iterator[Installation]:
    """Simulators and a configured, populated installation (not yet serving)."""
    with (
        empty_database_url(database, directory) as url,
        running_simulator("exchange2013", _seed(), validate=False) as ews,
        running_simulator("o365", _graph_seed(), validate=False, tls_dir=directory / "tls") as graph,
    ):
        config = directory / "roomsync.toml"
        config.write_text(_config(directory, url, ews, graph, serve_port), encoding="utf-8")
        db = Database(url)
        db.upgrade()
        with db.unit_of_work() as uow:
            for email, environment in (
                (ALICE, "onprem"),
                (BOB, "onprem"),
                (CAROL, "broken"),
                (ERIN, "online"),
            ):
                uow.rooms.upsert_person(
                    Person(email=email, name=email.split("@")[0].title(), environment=environment)
                )
            for mailbox, name, capacity, equipment in (
                (ROOM1, "Room 1", 8, ("projector",)),
                (ROOM2, "Room 2", 4, ()),
                (ROOM3, "Room 3", 20, ("projector", "video")),
            ):
                uow.rooms.add_room(
                    Room(
                        name=name,
                        mailbox=mailbox,
                        capacity=capacity,
                        equipment=equipment,
                        environment="onprem",
                    )
                )
            uow.commit()
        env = {
            **os.environ,
            EWS_PASSWORD_ENV: "svc-password",
            WRONG_PASSWORD_ENV: "not-the-password",
            SECRET_ENV: graph.client_secret,
        }
        found = Installation(directory, config, db, ews, graph, env)
        try:
            yield found
        finally:
            found.stop()
            db.dispose()
