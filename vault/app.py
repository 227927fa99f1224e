"""Application wiring: ``create_app(settings) -> Litestar``. No logic lives here."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from litestar import Litestar, Router
from litestar.datastructures import CacheControlHeader, State
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig
from litestar.static_files import create_static_files_router

from vault import __version__
from vault.api.account_pages import AccountPages, DocumentUploadPage
from vault.api.agency import AgencyApi
from vault.api.audit_pages import AuditPages
from vault.api.citizen import CitizenApi, DocumentUploadApi
from vault.api.errors import exception_handlers
from vault.api.health import HealthController, MetricsController, export_schema
from vault.api.identity_pages import IdentityPages
from vault.api.limits import FORM_BODY_LIMIT, document_body_limit
from vault.api.log import LogController
from vault.api.middleware import RequestContextMiddleware
from vault.api.oauth import OAuthController
from vault.api.pages import Pages
from vault.api.passkeys import PasskeyApi
from vault.api.security import security_headers
from vault.api.services import service_dependencies
from vault.bootstrap import prepare
from vault.config import load_settings
from vault.logs import configure_logging
from vault.runtime import Runtime

STATIC = Path(__file__).parent / "api" / "static"
STATIC_CACHE = CacheControlHeader(max_age=3600, public=True)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.bootstrap import Keys
    from vault.config import Settings


def create_app(settings: Settings, keys: Keys | None = None) -> Litestar:
    """The vault's ASGI app for ``settings``; keys are loaded (or created) unless given."""
    runtime = Runtime(settings, keys if keys is not None else prepare(settings))

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await runtime.open()
        try:
            yield
        finally:
            await runtime.close()

    prometheus = PrometheusConfig(
        app_name="vault", prefix="vault", group_path=True, exclude_unhandled_paths=True, exclude=["/metrics"]
    )
    app = Litestar(
        route_handlers=[
            HealthController,
            *([MetricsController] if settings.metrics_token else []),  # else: vault serve --metrics-port
            LogController,
            PasskeyApi,
            OAuthController,
            AgencyApi,
            Pages,
            IdentityPages,
            Router(  # see vault.api.limits: only the uploads in here take more than FORM_BODY_LIMIT
                "/",
                route_handlers=[CitizenApi, DocumentUploadApi, AccountPages, DocumentUploadPage],
                request_max_body_size=document_body_limit(settings),
            ),
            AuditPages,
            export_schema,
            create_static_files_router(
                path="/static", directories=[STATIC], include_in_schema=False, cache_control=STATIC_CACHE
            ),
        ],
        middleware=[prometheus.middleware],
        exception_handlers=exception_handlers(),
        dependencies=service_dependencies(),
        lifespan=[lifespan],
        state=State({"runtime": runtime}),
        openapi_config=OpenAPIConfig(title="Bürgertresor", version=__version__, path="/schema"),
        logging_config=None,
        after_request=security_headers,
        request_max_body_size=FORM_BODY_LIMIT,
    )
    # Outermost, like Litestar's own CORS and OpenTelemetry wrappers: sees 404/405 too.
    app.asgi_handler = RequestContextMiddleware(app.asgi_handler)
    return app


def app_from_environment() -> Litestar:
    """Factory for the ASGI server's worker processes: settings come from ``VAULT_*``."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
