"""A throwaway PostgreSQL server with durable commits, for benchmarks.

The test helper :func:`tests.support.postgres.postgres_server` starts its server with ``fsync=off``,
which would flatter every write benchmark. This module reuses its helpers but starts the server with
``fsync=on`` and ``synchronous_commit=on`` (PostgreSQL's defaults), so an append is on disk when its
commit returns, as in production.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.postgres import PostgresServer, _run_as, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

SERVER_OPTIONS = (
    "-c fsync=on",
    "-c synchronous_commit=on",
    "-c full_page_writes=on",
    "-c max_connections=200",
)


@dataclass
class DurablePostgresServer(PostgresServer):
    """Like :class:`PostgresServer`, but started with durable commits."""

    def start(self) -> None:
        """Start the server on its port with ``fsync=on`` and ``synchronous_commit=on``."""
        options = " ".join([f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.datadir}", *SERVER_OPTIONS])
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
def durable_postgres(bindir: Path) -> Iterator[DurablePostgresServer]:
    """Init and start a durable server in a new temp dir; stop it and remove the dir afterwards."""
    user = _run_as()
    top = Path(tempfile.mkdtemp(prefix="vault-bench-pg-"))
    datadir = top / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(top, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"],
        capture_output=True,
        check=True,
        user=user,
    )
    server = DurablePostgresServer(bindir=bindir, datadir=datadir, port=free_port(), user=user)
    server.start()
    try:
        yield server
    finally:
        server.stop("fast")
        shutil.rmtree(top, ignore_errors=True)
