"""The services as Litestar dependencies: one ``Provide`` per field of :class:`~vault.services.Services`.

A handler names what it needs (``accounts: AccountService``); until the start checks passed every
such dependency answers 503 (:class:`~vault.transparency.log.LogUnavailable`, "vault not ready").

The field providers depend on ``started_services``, so Litestar resolves them one batch after the
session dependencies (``me``): a request that arrives before the vault is ready and has no session
gets the session dependency's answer (401 from the JSON API), as before.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

from litestar import Request  # noqa: TC002  Litestar reads the annotations
from litestar.di import Dependency, Provide
from litestar.params import SkipValidationMarker

from vault.services import Services
from vault.transparency.log import LogUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.connection import ASGIConnection

    from vault.runtime import Runtime

STARTED = "started_services"

T = TypeVar("T")
#: A handler parameter Litestar injects by its name, as built (not validated: it is the vault's own object).
Injected: TypeAlias = Annotated[T, Dependency(kind="named"), SkipValidationMarker()]


def services_if_started(connection: ASGIConnection[Any, Any, Any, Any]) -> Services | None:
    """The app's services, or ``None`` before the start checks passed (for middleware and session checks)."""
    runtime: Runtime = connection.app.state.runtime
    return runtime.services if runtime.started else None


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The app's services; 503 (:class:`~vault.transparency.log.LogUnavailable`) before the start checks passed."""
    runtime: Runtime = connection.app.state.runtime
    return runtime.services


def _started(request: Request[Any, Any, Any]) -> Services | None:
    return services_if_started(request)


def _field(name: str) -> Callable[[Services | None], object]:
    def provide(started_services: Injected[Services | None]) -> object:
        if started_services is None:
            raise LogUnavailable("vault not ready")
        return getattr(started_services, name)

    provide.__name__ = f"provide_{name}"
    return provide


def _all(started_services: Injected[Services | None]) -> Services:
    if started_services is None:
        raise LogUnavailable("vault not ready")
    return started_services


def service_dependencies() -> dict[str, Provide]:
    """The app-level dependencies: each field of :class:`~vault.services.Services` by its name, and ``services``.

    ``services`` (all of them) is for the few handlers that use nearly every one (the data export).
    """
    provided = {f.name: Provide(_field(f.name), sync_to_thread=False) for f in dataclasses.fields(Services)}
    started = Provide(_started, sync_to_thread=False)
    return {STARTED: started, "services": Provide(_all, sync_to_thread=False), **provided}
