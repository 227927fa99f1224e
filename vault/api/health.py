"""Operator endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.plugins.prometheus import PrometheusController

if TYPE_CHECKING:
    from litestar.datastructures import State


class Health(msgspec.Struct):
    """Status body of ``/healthz`` and ``/readyz``."""

    status: str


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
        """200 once the database answers and the root key matched; 503 before."""
        if await state.runtime.ready():
            return Response(Health(status="ready"))
        return Response(Health(status="unavailable"), status_code=503)


EXPORT_SCHEMA = Path(__file__).with_name("schemas") / "export.schema.json"


@get("/schema/export.json", media_type="application/schema+json", include_in_schema=False, cache=3600)
async def export_schema() -> bytes:
    """The JSON Schema of ``GET /api/v1/me/export``."""
    return EXPORT_SCHEMA.read_bytes()


class MetricsController(PrometheusController):
    """Prometheus exposition at ``/metrics``."""

    path = "/metrics"
    include_in_schema = False
