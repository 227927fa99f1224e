"""Operator endpoints: liveness, readiness; Prometheus metrics only behind ``VAULT_METRICS_TOKEN``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.exceptions import NotAuthorizedException
from litestar.openapi import ResponseSpec

from vault.metrics import BEARER_REALM, bearer_matches, exposition

if TYPE_CHECKING:
    from litestar.datastructures import State


class Health(msgspec.Struct, omit_defaults=True):
    """Status body of ``/healthz`` and ``/readyz``: ready or not, and why not in a fixed phrase (no details)."""

    status: str
    reason: str | None = None


NOT_READY_REASON = "database unreachable or schema missing"


_NOT_READY = ResponseSpec(data_container=Health, description="Not ready")


class HealthController(Controller):
    """``/healthz`` says the process serves; ``/readyz`` says it can do real work."""

    include_in_schema = True
    tags = ["operations"]  # noqa: RUF012

    @get("/healthz", cache=False, summary="Liveness")
    async def healthz(self) -> Health:
        """200 while the process serves HTTP."""
        return Health(status="ok")

    @get("/readyz", cache=False, summary="Readiness", responses={503: _NOT_READY})
    async def readyz(self, state: State) -> Response[Health]:
        """200 once the root key matched (the services are built) and while the database answers; 503 otherwise."""
        if await state.runtime.ready():
            return Response(Health(status="ready"))
        return Response(Health(status="not ready", reason=NOT_READY_REASON), status_code=503)


EXPORT_SCHEMA = Path(__file__).with_name("schemas") / "export.schema.json"


@get("/schema/export.json", media_type="application/schema+json", include_in_schema=False, cache=3600)
async def export_schema() -> bytes:
    """The JSON Schema of ``GET /api/v1/me/export``."""
    return EXPORT_SCHEMA.read_bytes()


class MetricsController(Controller):
    """``/metrics`` on the public listener: registered only when ``VAULT_METRICS_TOKEN`` is set (404 otherwise)."""

    path = "/metrics"
    include_in_schema = False

    @get("/", cache=False)
    async def metrics(self, request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        """Prometheus text for ``Authorization: Bearer <VAULT_METRICS_TOKEN>``; 401 for anyone else."""
        if not bearer_matches(request.headers.get("authorization"), state.runtime.settings.metrics_token or ""):
            raise NotAuthorizedException("a bearer token is required", headers={"WWW-Authenticate": BEARER_REALM})
        body, media_type = exposition()
        return Response(body, media_type=media_type, headers={"Cache-Control": "no-store"})
