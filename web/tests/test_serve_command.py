"""``roomsync serve`` as an administrator starts it: https, a wrong [web] table, the key commands."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from roomsync_sim.tls import make_certificates
from support import ALICE, Installation, installation


def test_serve_speaks_https_with_the_given_certificate(tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("https")
    paths = make_certificates(directory / "web-tls", hostnames=("localhost",))
    with installation(directory) as inst:
        inst.serve("--certfile", str(paths.server_cert), "--keyfile", str(paths.server_key))
        assert inst.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(paths.ca_cert))
        url = inst.url.replace("127.0.0.1", "localhost")
        with httpx.Client(base_url=url, verify=trusted, trust_env=False) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            signin = client.post("/admin/signin", data={"key": inst.key("admin")}, follow_redirects=False)
            assert signin.status_code == 303
            cookie = signin.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        with pytest.raises(httpx.ConnectError):  # verification is on: an unknown CA is refused
            httpx.get(f"{url}/healthz", trust_env=False)


def _roomsync(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from roomsync.cli.main import main; main()", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_wrong_web_table_is_named_by_config_check_and_refused_by_serve(tmp_path: Path) -> None:
    config = tmp_path / "roomsync.toml"
    config.write_text(
        'data_dir = "data"\n[environments.local]\nplugin = "reference"\n'
        '[web]\nrate_limit = "lots"\ncors_origins = ["*"]\nport = 99999\n'
        '[web.oidc]\nissuer = "http://login.example.org/tenant/v2.0"\naudience = "api://roomsync"\n',
        encoding="utf-8",
    )
    checked = _roomsync(config, "config", "check")
    assert checked.returncode == 1
    for words in (
        "web.port: Input should be less than or equal to 65535",
        "web.cors_origins: '*' would let every web site call the API",
        "web.rate_limit: 'lots' is not a rate such as '600/minute'",
        "web.oidc.issuer: must be an https URL",
    ):
        assert words in checked.stdout + checked.stderr, checked.stdout + checked.stderr
    refused = _roomsync(config, "serve", "--port", "0")
    assert refused.returncode == 1
    assert "web.rate_limit" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_api_key_commands_show_a_key_once_and_refuse_nonsense(served: Installation) -> None:
    made = served.roomsync("api-key", "add", "ROOMS production", "--scope", "book")
    assert "rsk_" in made.stdout and "cannot be shown again" in made.stdout
    assert "rsk_" not in served.roomsync("api-key", "list").stdout
    listed = json.loads(served.roomsync("--json", "api-key", "list").stdout)
    assert "ROOMS production" in [k["name"] for k in listed]
    assert "rsk_" not in json.dumps(listed)
    unknown = served.roomsync("api-key", "revoke", "000000000000", check=False)
    assert unknown.returncode == 1 and "no API key 000000000000" in unknown.stderr
    bad_scope = served.roomsync("api-key", "add", "x", "--scope", "root", check=False)
    assert bad_scope.returncode == 2 and "'root' is not one of" in bad_scope.stderr
    bad_person = served.roomsync("api-key", "add", "x", "--scope", "read", "--person", "nobody", check=False)
    assert bad_person.returncode == 1 and "--person 'nobody'" in bad_person.stderr


def test_forms_without_the_sessions_token_are_refused_and_keep_the_session(served: Installation) -> None:
    with httpx.Client(base_url=served.url, trust_env=False) as browser:
        signed_in = browser.post("/admin/signin", data={"key": served.key("admin")}, follow_redirects=False)
        assert signed_in.status_code == 303
        for form in ("/admin/signout", f"/admin/persons/{ALICE}/sync", "/admin/differences/resolve"):
            forged = browser.post(
                form,
                data={"mailbox": ALICE, "id": "1", "resolution": "ignore", "csrf": "guess"},
            )
            assert forged.status_code == 403, form
            assert "not from this session's pages" in forged.json()["detail"]
        assert browser.get("/admin", follow_redirects=False).status_code == 200  # still signed in


def test_the_sample_configuration_documents_a_valid_web_table() -> None:
    import tomllib

    from roomsync.config import SAMPLE_CONFIG, settings_from_mapping
    from roomsync_web.config import web_config

    block = SAMPLE_CONFIG[SAMPLE_CONFIG.index("# [web]") : SAMPLE_CONFIG.index("# E-mails")]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines() if line.startswith("# "))
    config = web_config(settings_from_mapping(tomllib.loads(uncommented)))
    assert config.port == 8080 and config.oidc is not None and config.oidc.audience == "api://roomsync"


def test_serve_run_refuses_beside_another_daemon_unless_it_shares(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with installation(tmp_path_factory.mktemp("two")) as inst:
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from roomsync.cli.main import main; main()",
                "--config",
                str(inst.config),
                "run",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=inst.env,
        )
        try:
            deadline = time.monotonic() + 60
            while not inst.database.leases.registrations(datetime.now(UTC)):
                assert daemon.poll() is None and time.monotonic() < deadline, "the daemon never registered"
                time.sleep(0.1)
            refused = inst.roomsync("serve", "--run", "--port", "0", check=False)
            assert refused.returncode == 1
            assert (
                "Error:" in refused.stderr and "pid" in refused.stderr and "Traceback" not in refused.stderr
            )
            inst.serve("--run", "--share")
            assert inst.client().get("/healthz").status_code == 200
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
