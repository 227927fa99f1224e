"""The witness's HTTP face (C2SP tlog-witness): ``POST /add-checkpoint``, plus ``GET /key`` and ``/healthz``.

Every answer is ``text/plain`` except a 409 for a wrong old size, which is the witness's size as
``text/x.tlog.size``. Request bodies are bounded (:data:`MAX_BODY`, 413 beyond). The checks run in a
worker thread: they use the witness's SQLite file, whose write lock serialises concurrent requests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import structlog
from litestar import Litestar, Request, Response, get, post

from tlog.cosignature import SIZE_MEDIA_TYPE, format_size
from tlog.note import Verifier
from vault.audit.witness import STATE_FILE, Conflict, Witness, WitnessError, WitnessState, load_cosigner
from vault.logs import configure_logging

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_BODY = 64 * 1024
"""Largest add-checkpoint body: 63 proof lines and a checkpoint with a few dozen signatures fit easily."""
TEXT = "text/plain; charset=utf-8"
CONFIG_ENV = "VAULT_WITNESS_SERVE"
"""How ``vault witness serve`` hands its options to the server's worker (JSON)."""

log = structlog.get_logger("vault.audit.witness")


def create_witness_app(witness: Witness) -> Litestar:
    """The ASGI app serving ``witness``."""

    @post("/add-checkpoint", media_type=TEXT, status_code=200, request_max_body_size=MAX_BODY)
    async def add_checkpoint(request: Request[Any, Any, Any]) -> Response[str]:
        body = await request.body()
        try:
            line = await anyio.to_thread.run_sync(witness.add_checkpoint, body)
        except WitnessError as exc:
            log.warning("add-checkpoint refused", status=exc.status, reason=str(exc))
            if isinstance(exc, Conflict):
                return Response(format_size(exc.size), status_code=exc.status, media_type=SIZE_MEDIA_TYPE)
            return Response(f"{exc}\n", status_code=exc.status, media_type=TEXT)
        log.info("checkpoint cosigned")
        return Response(line, media_type=TEXT, headers={"Cache-Control": "no-store"})

    @get("/key", media_type=TEXT)
    async def key() -> str:
        return witness.cosigner.vkey() + "\n"

    @get("/healthz", media_type=TEXT)
    async def healthz() -> str:
        return "ok\n"

    return Litestar(route_handlers=[add_checkpoint, key, healthz], openapi_config=None, logging_config=None)


def open_witness(state_dir: Path, name: str, log_vkeys: Sequence[str]) -> Witness:
    """The witness kept in ``state_dir`` (key and state made on first use) for the logs ``log_vkeys``."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    logs = [Verifier.from_vkey(v) for v in log_vkeys]
    return Witness(load_cosigner(state_dir, name), logs, WitnessState(state_dir / STATE_FILE))


def app_from_environment() -> Litestar:
    """The app for the server's worker process, configured by ``vault witness serve`` through the environment."""
    config = json.loads(os.environ[CONFIG_ENV])
    configure_logging("info")
    return create_witness_app(open_witness(Path(config["state_dir"]), config["name"], config["logs"]))
