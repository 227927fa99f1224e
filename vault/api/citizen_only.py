"""Citizen pages and the citizen API are for citizens: an auditor's account has no data of its own.

An auditor signs in like a citizen, but its account exists to audit (``vault auditor add``); it
keeps that role after the operator withdraws its access. Such an account gets no citizen page
(it is sent to ``/audit``), no citizen API (403), and no consent page: it cannot store data,
grant access, or make ``/data`` write citizen entries to the log. It keeps ``/settings`` for its
own passkeys and sessions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.exceptions import PermissionDeniedException
from litestar.response import Redirect

from vault.api.auth import signed_in
from vault.api.render import page_session
from vault.api.services import services_of
from vault.citizens.sessions import SignedIn  # noqa: TC001  Litestar reads the dependencies' annotations

if TYPE_CHECKING:
    from litestar import Request, Response

AUDITOR_HOME = "/audit"


class AuditorAccount(Exception):
    """An auditor's account asked for a citizen page: answered with a redirect to ``/audit``."""


async def is_auditor_account(request: Request[Any, Any, Any], account_id: str) -> bool:
    """Whether ``account_id`` is an auditor's account (access withdrawn or not)."""
    return await services_of(request).auditors.is_auditor_account(account_id)


async def citizen_page(request: Request[Any, Any, Any]) -> SignedIn:
    """Dependency for citizen pages: :func:`~vault.api.render.page_session`, and not an auditor's account."""
    session = await page_session(request)
    if await is_auditor_account(request, session.citizen_id):
        raise AuditorAccount
    return session


async def citizen_api(request: Request[Any, Any, Any]) -> SignedIn:
    """Dependency for the citizen API: :func:`~vault.api.auth.signed_in`, and not an auditor's account (403)."""
    session = await signed_in(request)
    if await is_auditor_account(request, session.citizen_id):
        raise PermissionDeniedException("auditor accounts have no citizen data")
    return session


def to_audit(_request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    """Exception handler: an auditor's account goes to its own pages."""
    return Redirect(AUDITOR_HOME, status_code=303)
