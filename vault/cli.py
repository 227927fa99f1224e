"""The ``vault`` command: serve, config, database migrations.

Every operator mistake (bad setting, wrong key, unreachable database) ends with one line on stderr
naming the setting, and exit status 2 — never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from typing import TYPE_CHECKING, Any

import click
import structlog

from vault import __version__
from vault.bootstrap import SchemaNotReady, check_root_key, prepare
from vault.cli_witness import witness_group
from vault.config import ConfigError, env_name, load_settings, settings_to_environ
from vault.consent.catalogue import CatalogueError, UnknownEntry
from vault.crypto.rootkey import RootKeyError
from vault.crypto.signing import SigningKeyError
from vault.db import migrate
from vault.db.engine import create_engine, forget_erased
from vault.logs import configure_logging

if TYPE_CHECKING:
    from vault.bootstrap import Keys
    from vault.config import Settings

EXIT_CONFIG = 2
log = structlog.get_logger("vault.cli")
_OPERATOR_ERRORS = (ConfigError, RootKeyError, SigningKeyError, SchemaNotReady)


class DatabaseUnreachable(Exception):
    """The configured database cannot be reached."""


def _settings(ctx: click.Context, **flags: Any) -> Settings:
    return load_settings(**ctx.obj, **flags)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vault")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory [VAULT_DATA_DIR].")
@click.option("--database-url", help="Database URL [VAULT_DATABASE_URL].")
@click.option("--issuer", help="Public base URL [VAULT_ISSUER].")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, database_url: str | None, issuer: str | None) -> None:
    """Bürgertresor: citizen data vault, consent manager and transparency log."""
    ctx.obj = {"data_dir": data_dir, "database_url": database_url, "issuer": issuer}
    configure_logging("warning", sys.stderr)  # one-shot commands keep stdout for their result; serve reconfigures


@cli.command()
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
    settings = _settings(ctx, host=host, port=port, workers=workers, metrics_port=metrics_port)
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
    separate job, and ``/readyz`` answers 503 until they are. A wrong root key always is.
    """
    engine = create_engine(settings)
    try:
        if migrate_first:
            await migrate.upgrade(engine)
        await check_root_key(engine, keys.root)
    except (RootKeyError, ConfigError):
        raise
    except SchemaNotReady:
        if migrate_first:
            raise
        log.warning("database schema missing; /readyz answers 503 until `vault db upgrade` has run")
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        if migrate_first:
            raise DatabaseUnreachable(_db_error(exc)) from None
        log.warning("database unreachable at start; /readyz answers 503 until it is", error=_db_error(exc))
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


@cli.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective settings as JSON, secrets redacted."""
    settings = _settings(_root(ctx))
    shown = settings.redacted()
    click.echo(json.dumps({env_name(k): v for k, v in shown.items()}, indent=2))


@cli.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations."""
    settings = _settings(_root(ctx))
    prepare_dirs_only(settings)
    before, after = asyncio.run(_upgrade(settings))
    click.echo(json.dumps({"from": before, "to": after}))


@db.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Print the database's revision and the newest one this code ships."""
    settings = _settings(_root(ctx))
    revision = asyncio.run(_current(settings))
    click.echo(json.dumps({"current": revision, "head": migrate.head(), "up_to_date": revision == migrate.head()}))


@db.command("purge")
@click.pass_context
def db_purge(ctx: click.Context) -> None:
    """Delete expired rows now (serving workers do it hourly): challenges, OAuth state, throttle counters."""
    settings = _settings(_root(ctx))
    click.echo(json.dumps(asyncio.run(_purge(settings))))


def _witness_key(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from vault.transparency.cosignature import CosignatureVerifier
    from vault.transparency.note import NoteError

    for value in values:
        try:
            CosignatureVerifier.from_vkey(value)
        except NoteError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


def _quorum(witnesses: tuple[str, ...], quorum: int | None) -> int | None:
    if quorum is not None and not witnesses:
        raise click.UsageError("--quorum needs the witnesses it counts (--witness)")
    if quorum is not None and quorum > len(set(witnesses)):
        raise click.UsageError(f"--quorum {quorum} is more than the {len(set(witnesses))} witnesses named")
    return quorum


def _witness_options(command: Any) -> Any:
    """``--witness VKEY`` (repeatable) and ``--quorum N`` for the commands that check checkpoints."""
    command = click.option(
        "--quorum",
        type=click.IntRange(min=1),
        help="How many of the named witnesses must have cosigned the checkpoint [default: all].",
    )(command)
    return click.option(
        "--witness",
        "witnesses",
        multiple=True,
        callback=_witness_key,
        help="A witness's verifier key (C2SP vkey, type 0x04) whose cosignature counts (repeatable).",
    )(command)


@cli.group("log")
def log_group() -> None:
    """Transparency log tools."""


@log_group.command("verify")
@click.option("--url", help="Base URL of the vault [default: VAULT_ISSUER].")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    default="vault-log.state.json",
    show_default=True,
    help="Where the last verified checkpoint is kept.",
)
@click.option("--key", "vkey", help="Pin the log's verifier key (C2SP vkey) instead of trusting /log/key on first use.")
@click.option("--origin", help="Expected checkpoint origin [default: the key's name].")
@click.option("--skip-leaves", is_flag=True, help="Only check signature and consistency, not every leaf.")
@_witness_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def log_verify(
    ctx: click.Context,
    url: str | None,
    state_file: str,
    vkey: str | None,
    origin: str | None,
    skip_leaves: bool,
    witnesses: tuple[str, ...],
    quorum: int | None,
    as_json: bool,
) -> None:
    """Verify the log's checkpoint, its consistency with the last verified one, and its leaves.

    With --witness, the checkpoint must also be cosigned by --quorum of the named witnesses.
    Exits 0 when everything verifies (and remembers the new checkpoint), 1 on any failure.
    """
    from dataclasses import asdict
    from pathlib import Path

    import httpx

    from vault.transparency.verifier import load_state, save_state, verify_log

    base = url or _settings(_root(ctx)).issuer
    path = Path(state_file)
    with httpx.Client(base_url=base, timeout=30) as http:
        report, new_state = verify_log(http, load_state(path), vkey=vkey, origin=origin, check_leaves=not skip_leaves,
                                       witnesses=witnesses, quorum=_quorum(witnesses, quorum))  # fmt: skip
    if new_state is not None:
        save_state(path, new_state)
    if as_json:
        click.echo(json.dumps(asdict(report)))
    else:
        for note in report.notes:
            click.echo(f"note: {note}")
        if report.ok:
            previous = "" if report.previous_size is None else f", consistent with {report.previous_size}"
            cosigned = f"; cosigned by {', '.join(report.witnessed_by)}" if witnesses else ""
            checked = f"{report.leaves_checked} leaves checked{cosigned}"
            click.echo(f"ok: checkpoint {report.size} verified{previous}; {checked}")
        else:
            where = "" if report.first_bad_index is None else f" (first bad index {report.first_bad_index})"
            click.echo(f"FAILED: {report.problem}{where}", err=True)
    if not report.ok:
        raise SystemExit(1)


@cli.group("audit")
def audit_group() -> None:
    """Auditing tools."""


@audit_group.command("monitor")
@click.option("--url", help="Base URL of the vault [default: VAULT_ISSUER].")
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="Seconds between checks."
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    default="vault-monitor.state.json",
    show_default=True,
    help="Where the last verified checkpoint is kept.",
)
@click.option("--key", "vkey", help="Pin the log's verifier key (C2SP vkey) instead of trusting /log/key on first use.")
@click.option("--origin", help="Expected checkpoint origin [default: the key's name].")
@click.option("--rounds", type=click.IntRange(min=1), help="Stop after this many checks [default: run until stopped].")
@click.option("--daemon", is_flag=True, help="Log an ALERT and keep watching instead of exiting on misbehaviour.")
@_witness_options
@click.pass_context
def audit_monitor(
    ctx: click.Context,
    url: str | None,
    interval: float,
    state_file: str,
    vkey: str | None,
    origin: str | None,
    rounds: int | None,
    daemon: bool,
    witnesses: tuple[str, ...],
    quorum: int | None,
) -> None:
    """Keep verifying new checkpoints against the ones seen: a rollback, a fork or a bad signature exits 1.

    An unreachable log exits 3 (without --daemon); with --daemon both are logged and watching goes on.
    """
    from pathlib import Path

    import httpx

    from vault.audit.monitor import monitor

    base = url or _settings(_root(ctx)).issuer
    with httpx.Client(base_url=base, timeout=30) as http:
        result = monitor(http, Path(state_file), vkey=vkey, origin=origin, interval=interval, rounds=rounds,
                         daemon=daemon, witnesses=witnesses, quorum=_quorum(witnesses, quorum))  # fmt: skip
    if result.alerts and not daemon:
        click.echo(f"ALERT: {result.problem}", err=True)
        raise SystemExit(1)
    if result.unreachable and not daemon:
        click.echo(f"unreachable: {result.problem}", err=True)
        raise SystemExit(3)
    click.echo(f"ok: {result.verified} of {result.rounds} checks verified; log size {result.size}")
    if result.alerts:
        raise SystemExit(1)


@cli.group("keys")
def keys_group() -> None:
    """Key management."""


@keys_group.command("rotate-root")
@click.pass_context
def keys_rotate_root(ctx: click.Context) -> None:
    """Re-wrap every data key under a new root key version, then retire the old one.

    Resumable: if interrupted (even by SIGKILL), run it again to finish. Needs the key file provider.
    """
    from vault.crypto.rootkey import FileRootKey

    settings = _settings(_root(ctx))
    keys = prepare(settings)
    if not isinstance(keys.root, FileRootKey):
        raise RootKeyError(env_name("root_key"), "rotate-root works with the key file; rotate keys in your KMS instead")
    result = asyncio.run(_rotate(settings, keys.root))
    click.echo(
        json.dumps(
            {"current_version": result.new_version, "rewrapped": result.rewrapped, "retired": list(result.retired)}
        )
    )


async def _rotate(settings: Settings, root: Any) -> Any:
    from vault.crypto.rotation import pending_count, rotate_root

    engine = create_engine(settings)
    try:
        await check_root_key_for_rotation(engine, root)
        current = root.version if len(root.versions()) > 1 else root.version + 1
        total = await pending_count(engine, current)
        with click.progressbar(length=max(total, 1), label="re-wrapping keys", file=sys.stderr) as bar:
            shown = 0

            def progress(done: int, _total: int) -> None:
                nonlocal shown
                bar.update(done - shown)
                shown = done

            result = await rotate_root(engine, root, progress)
            bar.update(max(total, 1) - shown)
        return result
    finally:
        await engine.dispose()


async def check_root_key_for_rotation(engine: Any, root: Any) -> None:
    """Before rotating: every version the database knows must match; a new one may be unrecorded."""
    try:
        await check_root_key(engine, root)
    except RootKeyError as exc:
        if "unknown to this database" not in str(exc):
            raise


@cli.group("citizens")
def citizens_group() -> None:
    """Citizen account administration."""


@citizens_group.command("reapply-erasures")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, exists=True),
    help="Erasure journal [default: VAULT_ERASURE_JOURNAL, <data dir>/erasures.jsonl].",
)
@click.pass_context
def citizens_reapply_erasures(ctx: click.Context, journal: str | None) -> None:
    """After restoring a database backup: erase again every account erased since (crypto-shredding)."""
    from pathlib import Path

    settings = _settings(_root(ctx))
    path = Path(journal) if journal else settings.erasure_journal
    assert path is not None
    if not path.exists():
        raise ConfigError(env_name("erasure_journal"), f"{path} does not exist")
    again, already = asyncio.run(_reapply(settings, path))
    click.echo(json.dumps({"erased_again": again, "already_erased": already}))


async def _reapply(settings: Settings, journal: Any) -> tuple[int, int]:
    from vault.citizens.accounts import reapply_erasures
    from vault.runtime import Runtime

    runtime = Runtime(settings, prepare(settings))
    await runtime.open(integrate=False)
    try:
        if not runtime.started:
            raise DatabaseUnreachable(f"{env_name('database_url')}: the database is not ready (run `vault db upgrade`)")
        result = await reapply_erasures(runtime.services.vault, journal)
        await forget_erased(runtime.engine)
        return result
    finally:
        await runtime.close()


def prepare_dirs_only(settings: Settings) -> None:
    """The data dir must exist for the SQLite file; keys are not needed to migrate."""
    from vault.bootstrap import prepare_data_dir

    prepare_data_dir(settings)


async def _upgrade(settings: Settings) -> tuple[str | None, str | None]:
    engine = create_engine(settings)
    try:
        before = await migrate.current(engine)
        await migrate.upgrade(engine)
        return before, await migrate.current(engine)
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        raise DatabaseUnreachable(_db_error(exc)) from None
    finally:
        await engine.dispose()


async def _purge(settings: Settings) -> dict[str, int]:
    from vault.db.engine import session_factory
    from vault.purge import purge_expired

    engine = create_engine(settings)
    try:
        return await purge_expired(session_factory(engine))
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        raise DatabaseUnreachable(_db_error(exc)) from None
    finally:
        await engine.dispose()


async def _current(settings: Settings) -> str | None:
    engine = create_engine(settings)
    try:
        return await migrate.current(engine)
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        raise DatabaseUnreachable(_db_error(exc)) from None
    finally:
        await engine.dispose()


def _root(ctx: click.Context) -> click.Context:
    return ctx.find_root()


def _db_error(exc: Exception) -> str:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    return f"{env_name('database_url')}: cannot use the database: {first}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vault`` console script."""
    os.umask(0o077)  # database files, key files and the metrics dir are the operator's alone
    try:
        cli.main(args=argv, prog_name="vault", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("vault: aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except (*_OPERATOR_ERRORS, CatalogueError, UnknownEntry, DatabaseUnreachable) as exc:
        click.echo(f"vault: error: {exc}", err=True)
        return EXIT_CONFIG
    return 0


def _add_catalogue_commands() -> None:
    from vault.cli_audit import auditor_group, log_prune
    from vault.cli_catalogue import agency_group, service_group
    from vault.cli_idp import idp_group

    cli.add_command(agency_group)
    cli.add_command(idp_group)
    cli.add_command(service_group)
    cli.add_command(auditor_group)
    log_group.add_command(log_prune)


_add_catalogue_commands()
cli.add_command(witness_group)


if __name__ == "__main__":
    sys.exit(main())
