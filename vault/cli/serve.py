"""``vault serve``: migrate, check the root key, then serve with granian."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from typing import TYPE_CHECKING

import click
import structlog

from vault.bootstrap import SchemaNotReady, check_root_key, prepare
from vault.cli.common import DatabaseUnreachable, db_error, settings_for
from vault.config import ConfigError, env_name, settings_to_environ
from vault.crypto.kek import RootKeyError, RootKeyUnavailable
from vault.db import migrate
from vault.db.engine import create_engine
from vault.logs import configure_logging

if TYPE_CHECKING:
    from vault.bootstrap import Keys
    from vault.config import Settings

log = structlog.get_logger("vault.cli")


@click.command()
@click.option("--host", help="Address to bind [VAULT_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [VAULT_PORT, default 8000].")
@click.option("--workers", type=int, help="Worker processes [VAULT_WORKERS, default 1].")
@click.option("--demo", is_flag=True, help="Print a guided tour of the running vault.")
@click.option("--no-migrate", is_flag=True, help="Do not apply pending database migrations.")
@click.option("--metrics-port", type=int, help="Serve /metrics on this port, on loopback [VAULT_METRICS_PORT].")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int | None,
    demo: bool,
    no_migrate: bool,
    metrics_port: int | None,
) -> None:
    """Run the vault's HTTP service until SIGTERM or Ctrl-C."""
    settings = settings_for(ctx, host=host, port=port, workers=workers, metrics_port=metrics_port)
    configure_logging(settings.log_level)
    keys = prepare(settings)
    asyncio.run(_start_checks(settings, keys, migrate_first=not no_migrate))
    if demo:
        from vault.demo import seed_demo

        asyncio.run(seed_demo(settings, keys))
        click.echo(_demo_banner(settings), err=True)
    _run_server(settings)


async def _start_checks(settings: Settings, keys: Keys, *, migrate_first: bool) -> None:
    """Migrate and check the root key before serving.

    With ``--no-migrate`` an empty or unreachable database is not fatal: migrations may be run by a
    separate job, and ``/readyz`` answers 503 until they are. Nor is a root key token that does not
    answer yet (the workers keep trying). A wrong root key always is.
    """
    engine = create_engine(settings)
    try:
        if migrate_first:
            await migrate.upgrade(engine)
        await check_root_key(engine, keys.root)
    except (RootKeyError, ConfigError):
        raise
    except RootKeyUnavailable as exc:
        log.warning("root key token does not answer at start; /readyz answers 503 until it does", error=str(exc))
    except SchemaNotReady:
        if migrate_first:
            raise
        log.warning("database schema missing; /readyz answers 503 until `vault db upgrade` has run")
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        if migrate_first:
            raise DatabaseUnreachable(db_error(exc)) from None
        log.warning("database unreachable at start; /readyz answers 503 until it is", error=db_error(exc))
    finally:
        await engine.dispose()


def _run_server(settings: Settings) -> None:
    """Serve with granian (chosen by measurement: docs/operations.md), workers built from ``VAULT_*``."""
    from granian.constants import Interfaces
    from granian.server import Server

    os.environ.update(settings_to_environ(settings))
    if settings.workers > 1 or settings.metrics_port is not None:
        # The workers' counters go to files that this process (the listener) or any worker can sum up.
        # Set before anything imports prometheus_client: it picks its storage at import time.
        metrics_dir = settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(mode=0o700)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if settings.metrics_port is not None:
        from vault.metrics import start_listener

        try:
            start_listener(settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            where = f"{settings.metrics_host}:{settings.metrics_port}"
            raise ConfigError(env_name("metrics_port"), f"cannot listen on {where}: {exc.strerror}") from None
        log.info("metrics", url=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    server = Server(
        "vault.app:app_from_environment",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        log_enabled=False,
        respawn_failed_workers=True,
        workers_kill_timeout=10,
    )
    signal.signal(signal.SIGTERM, _exit_cleanly)
    log.info("serving", url=f"http://{settings.host}:{settings.port}", workers=settings.workers, server="granian")
    server.serve()


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _demo_banner(settings: Settings) -> str:
    from vault.demo import DEMO_AUDITOR, DEMO_AUDITOR_PASSWORD, DEMO_LOGIN, DEMO_PASSWORD

    base = settings.issuer
    return "\n".join(
        [
            "",
            "Bürgertresor demo is starting",
            f"  data dir:        {settings.data_dir.resolve()}",
            f"  health:          {base}/healthz   readiness: {base}/readyz",
            f"  metrics:         {_metrics_hint(settings)}",
            f"  API schema:      {base}/schema/swagger",
            f"  log:             {base}/log/checkpoint   (verify: vault log verify --url {base})",
            f"  citizen pages:   {base}/login   as {DEMO_LOGIN} / {DEMO_PASSWORD}",
            "                   (data, documents, access history with receipts, passkeys, export, delete)",
            f"  auditor pages:   {base}/audit   as {DEMO_AUDITOR} / {DEMO_AUDITOR_PASSWORD}",
            f"  demo agency:     {settings.data_dir.resolve() / 'demo-agency.json'}  (client_id and private key)",
            "                   services 'ummeldung' (once), 'adressabgleich' (ongoing) and 'wohnsitz-anmelden'",
            "                   (level high: sign in with the online ID card); `vault service list`",
            "  agency app:      `make demo` runs the example agency app (examples/agency_app) on :8001 beside this",
            "  eID provider:    `make demo` runs the test eID provider (examples/eid_provider) on :8002 and registers",
            "                   it (`vault idp list`); on its page choose Erika Mustermann (level high)",
            "  Stop with Ctrl-C.",
            "",
        ]
    )


def _metrics_hint(settings: Settings) -> str:
    if settings.metrics_port is not None:
        return f"http://{settings.metrics_host}:{settings.metrics_port}/metrics (operators only)"
    if settings.metrics_token:
        return f"{settings.issuer}/metrics with Authorization: Bearer $VAULT_METRICS_TOKEN"
    return "off (vault serve --metrics-port N, or VAULT_METRICS_TOKEN)"
