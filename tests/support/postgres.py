"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temp dir on a free port.

Binaries are found through ``VAULT_TEST_PG_BINDIR``, ``pg_config --bindir`` or
``/usr/lib/postgresql/<major>/bin`` (newest first). PostgreSQL refuses to run as root, so when the
suite runs as root (CI does) the server runs as the ``postgres`` user, or ``nobody``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or ``None``."""
    candidates: list[Path] = []
    if env := os.environ.get("VAULT_TEST_PG_BINDIR"):
        candidates.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class PostgresServer:
    """A running server; ``url(db)`` gives an asyncpg URL for one of its databases."""

    bindir: Path
    datadir: Path
    port: int
    user: str | None
    durable: bool = False

    def url(self, database: str) -> str:
        """SQLAlchemy URL for ``database`` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """Create a fresh, empty database and return its name."""
        name = "t_" + uuid.uuid4().hex[:16]
        self._run(
            [
                "psql",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                f'CREATE DATABASE "{name}"',
            ]
        )
        return name

    def pg_dump(self, database: str) -> bytes:
        """A plain-SQL dump of ``database`` (what a stolen backup would hold)."""
        cmd = [str(self.bindir / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database]
        return subprocess.run(cmd, capture_output=True, check=True, user=self.user).stdout

    def psql(self, database: str, sql: str) -> None:
        """Run ``sql`` in ``database`` as the superuser (stops at the first error)."""
        self._run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                   "-d", database, "-c", sql])  # fmt: skip

    def _run(self, cmd: list[str]) -> None:
        tool = self.bindir / cmd[0]
        subprocess.run([str(tool), *cmd[1:]], check=True, capture_output=True, user=self.user)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode`` ``immediate`` simulates a crash)."""
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
            capture_output=True,
            check=False,
            user=self.user,
        )

    def start(self) -> None:
        """Start (or restart) the server on its port."""
        sync = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on" if self.durable else "-c fsync=off"
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} {sync} -c max_connections=200"
        subprocess.run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-o",
                options,
                "-l",
                str(self.datadir / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            check=True,
            user=self.user,
        )


@contextlib.contextmanager
def postgres_server(bindir: Path, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a server in a new temp dir; stop it and remove the dir afterwards.

    The server runs with ``fsync=off`` (fast tests) unless ``durable``, which gives it durable commits
    (``fsync``, ``synchronous_commit`` and ``full_page_writes`` on, as in production) for benchmarks.
    """
    user = _run_as()
    top = Path(tempfile.mkdtemp(prefix="vault-pg-"))
    datadir = top / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(top, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ],
        capture_output=True,
        check=True,
        user=user,
    )
    server = PostgresServer(bindir=bindir, datadir=datadir, port=free_port(), user=user, durable=durable)
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(top, ignore_errors=True)
