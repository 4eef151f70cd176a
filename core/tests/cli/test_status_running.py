"""``roomsync status`` shows the daemons working on the database and the cycles in progress."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from click.testing import CliRunner

from roomsync.cli.main import cli
from roomsync.engine.apply import now
from roomsync.storage import Database
from roomsync.storage.leases import Holder

DAEMON = Holder("d" * 32, "sync-host", 1234)
OTHER = Holder("e" * 32, "other-host", 5678)


def test_status_names_the_running_daemons_and_the_mailboxes_in_a_cycle(tmp_path: Path) -> None:
    config = tmp_path / "roomsync.toml"
    config.write_text(
        f'data_dir = "data"\n[environments.lab]\nplugin = "reference"\n'
        f'[environments.lab.options]\ndirectory = "status-{uuid.uuid4().hex}"\n',
        encoding="utf-8",
    )

    def roomsync(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    roomsync("init")
    database = Database(f"sqlite:///{tmp_path / 'data' / 'roomsync.db'}")
    try:
        at = now()
        database.leases.register(DAEMON, at)
        database.leases.acquire("alice@example.org", OTHER, at)

        data = json.loads(roomsync("--json", "status"))
        shown = roomsync("status")
    finally:
        database.dispose()

    assert data["runners"] == [
        {"host": "sync-host", "pid": 1234, "since": at.isoformat(), "heartbeat": at.isoformat()}
    ]
    [cycle] = data["cycles_in_progress"]
    assert (cycle["mailbox"], cycle["host"], cycle["pid"]) == ("alice@example.org", "other-host", 5678)
    assert "host sync-host, pid 1234" in shown
    assert "alice@example.org" in shown and "host other-host, pid 5678" in shown
