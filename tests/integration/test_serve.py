"""``vault serve`` as a real process on both databases."""

from __future__ import annotations

import json
import signal
import socket
import stat
import time
from pathlib import Path

import httpx

from tests.support.postgres import free_port
from tests.support.server import serve, vault_cmd


def test_first_start_creates_private_data_dir_and_keys_then_serves(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "var"
    env = {"VAULT_DATA_DIR": str(data), "VAULT_DATABASE_URL": database_url}
    with serve(tmp_path, env, "--demo") as vault:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("root.key", "log.key", "consent.key", "demo-agency.json"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
        demo_agency = json.loads((data / "demo-agency.json").read_text())
        assert "d" in demo_agency["private_jwk"]  # the agency's private key, for its client assertions
        listed = vault_cmd("agency", "list", env=env)
        assert json.loads(listed.stdout)["client_id"] == demo_agency["client_id"]
        services = [json.loads(line) for line in vault_cmd("service", "list", env=env).stdout.splitlines()]
        assert {(s["id"], s["agency"]) for s in services} == {
            ("ummeldung", demo_agency["client_id"]),
            ("adressabgleich", demo_agency["client_id"]),
            ("wohnsitz-anmelden", demo_agency["client_id"]),
        }
        assert httpx.get(vault.base_url + "/oauth/jwks").json()["keys"][0]["kty"] == "EC"
        assert httpx.get(vault.base_url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(vault.base_url + "/readyz").status_code == 200
        assert httpx.get(vault.base_url + "/schema/openapi.json").json()["info"]["title"] == "Bürgertresor"
        assert httpx.get(vault.base_url + "/metrics").status_code == 404  # operators only: --metrics-port
        deadline = time.monotonic() + 60  # --demo seeded a citizen: its writes are in the log
        while (cp := httpx.get(vault.base_url + "/log/checkpoint")).status_code != 200 or cp.text.split("\n")[1] == "0":
            assert time.monotonic() < deadline, "the demo citizen's log entries were not integrated"
            time.sleep(0.1)
        vault.process.send_signal(signal.SIGTERM)
        assert vault.process.wait(timeout=20) == 0
        assert "vault stopped" in vault.log()
        assert "Traceback" not in vault.log()


def test_no_migrate_serves_but_is_not_ready_on_an_empty_database(tmp_path: Path, database_url: str) -> None:
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_DATABASE_URL": database_url}
    with serve(tmp_path, env, "--no-migrate", ready_path="/healthz") as vault:
        assert httpx.get(vault.base_url + "/readyz").status_code == 503


def test_metrics_port_serves_the_workers_metrics_on_loopback_and_the_public_port_does_not(tmp_path: Path) -> None:
    env = {"VAULT_DATA_DIR": str(tmp_path / "var")}
    metrics_port = free_port()
    with serve(tmp_path, env, "--workers", "2", "--metrics-port", str(metrics_port)) as vault:
        for _ in range(20):
            assert httpx.get(vault.base_url + "/healthz").status_code == 200
        assert httpx.get(vault.base_url + "/metrics").status_code == 404
        assert listening_address(metrics_port) == "127.0.0.1"
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        counts = [
            line
            for line in metrics.splitlines()
            if line.startswith("vault_requests_total") and 'path="/healthz"' in line
        ]
        assert counts, metrics
        assert sum(float(line.rsplit(" ", 1)[1]) for line in counts) >= 20  # both workers' requests
        assert "vault_request_duration_seconds_bucket" in metrics
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/healthz").status_code == 404  # nothing but /metrics
        vault.process.send_signal(signal.SIGTERM)
        assert vault.process.wait(timeout=30) == 0


def test_metrics_token_opens_metrics_on_the_public_port_to_its_bearer_only(tmp_path: Path) -> None:
    token = "f00dfeed" * 8
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_METRICS_TOKEN": token}
    with serve(tmp_path, env) as vault:
        httpx.get(vault.base_url + "/healthz")
        assert httpx.get(vault.base_url + "/metrics").status_code == 401
        r = httpx.get(vault.base_url + "/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert 'path="/healthz"' in r.text
        assert token not in vault.log()


def listening_address(port: int) -> str:
    """The IPv4 address a socket listens on for ``port`` (from /proc/net/tcp: Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            return socket.inet_ntoa(bytes.fromhex(address)[::-1])
    raise AssertionError(f"nothing listens on port {port}")
