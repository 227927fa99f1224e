"""A real ``vault serve`` (granian) on SQLite or a throwaway PostgreSQL, that can be killed and restarted.

The server runs in its own process group, so ``kill()`` takes the workers down with it (SIGKILL:
no shutdown handler runs, exactly like a power cut of the process).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from bench.asgi_servers import free_port
from tests.support.agency import TestAgency
from tests.support.catalogue import service_toml
from tests.support.postgres import PostgresServer, find_bindir, postgres_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FIELDS_LINE = 'fields = ["given_name", "family_name", "email"]'


@dataclass
class Vault:
    """One deployment: its settings, its agency, and the server process when it runs."""

    backend: str
    data_dir: Path
    database_url: str | None
    workers: int = 1
    port: int = field(default_factory=free_port)
    postgres: PostgresServer | None = None
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        env.update({"VAULT_DATA_DIR": str(self.data_dir), "VAULT_ISSUER": self.base, "VAULT_LOG_LEVEL": "warning",
                    "VAULT_PASSWORD_CONCURRENCY": "1",
                    "VAULT_REGISTER_LIMIT": "0"})  # fmt: skip  # every simulated citizen shares the loopback address
        if self.database_url:
            env["VAULT_DATABASE_URL"] = self.database_url
        return env

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "vault.cli", *args], capture_output=True, text=True, env=self.env, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"vault {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def register_agency(self) -> TestAgency:
        """The database migrated, an agency and its ongoing service (3 fields, no documents) registered."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli("db", "upgrade")
        agency = TestAgency(self.base)
        jwks = self.data_dir / "agency-jwks.json"
        jwks.write_text(json.dumps(agency.jwks()))
        added = self.cli("agency", "add", "--name", "Last", "--redirect-uri", agency.redirect_uri, "--jwks", str(jwks))
        agency.client_id = json.loads(added)["client_id"]
        service = self.data_dir / "service.toml"
        service.write_bytes(
            service_toml(
                agency.client_id,
                access='access = "ongoing"',
                fields=FIELDS_LINE,
                optional_fields="optional_fields = []",
                documents="documents = []",
            )
        )
        self.cli("service", "add", str(service))
        return agency

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until ``/readyz`` says ready."""
        log = (self.data_dir / "server.log").open("ab")
        cmd = [sys.executable, "-m", "vault.cli", "serve", "--port", str(self.port), "--workers", str(self.workers),
               "--no-migrate"]  # fmt: skip
        self.process = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"vault serve exited with {self.process.returncode}; see {self.data_dir}/server.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise SystemExit(f"vault serve did not become ready in {timeout} s")

    def kill(self) -> None:
        """SIGKILL the server and its workers."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
        self.kills += 1

    def stop(self) -> None:
        """A clean stop (SIGTERM), as an operator's restart would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None


@contextlib.contextmanager
def deployment(backend: str, root: Path, workers: int = 1) -> Iterator[Vault | None]:
    """A fresh deployment on ``backend``; ``None`` for PostgreSQL when its binaries are missing."""
    if backend == "sqlite":
        vault = Vault(backend, root / backend, None, workers)
        try:
            yield vault
        finally:
            vault.stop()
        return
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    with postgres_server(bindir, durable=True) as server:
        vault = Vault(backend, root / backend, server.url(server.create_database()), workers, postgres=server)
        try:
            yield vault
        finally:
            vault.stop()
