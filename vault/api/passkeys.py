"""``/api/v1/me/passkeys``: register, list and remove passkeys (``static/passkeys.js`` drives it).

Same session cookie and ``X-CSRF-Token`` rule as the rest of the citizen API. Signing in with a
passkey is on the pages controller (``/login/passkey``) because no session exists yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath  # noqa: TC002  Litestar reads the annotations at runtime
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from vault.api.auth import signed_in
from vault.api.cross_site import same_site_only
from vault.api.openapi import errors
from vault.api.reauth import require_recent_sign_in
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.citizens.accounts import AccountService  # noqa: TC001  Litestar reads the annotations
from vault.citizens.passkeys import PasskeyService  # noqa: TC001  Litestar reads the annotations
from vault.citizens.sessions import SignedIn

Me = NamedDependency[SignedIn]


class PasskeyOut(msgspec.Struct):
    """A registered passkey."""

    id: str
    created_at: datetime
    last_used_at: datetime | None
    assurance: str


class PasskeysOut(msgspec.Struct):
    """The citizen's passkeys."""

    passkeys: list[PasskeyOut]


class PasskeyApi(Controller):
    """Passkey registration for the signed-in citizen."""

    path = "/api/v1/me/passkeys"
    tags = ["citizen"]  # noqa: RUF012
    dependencies = {"me": Provide(signed_in)}  # noqa: RUF012
    guards = [same_site_only]  # noqa: RUF012  like the rest of the citizen API

    @get("/", summary="Your passkeys", responses=errors(401, 503))
    async def list_passkeys(
        self, request: Request[Any, Any, Any], me: Me, passkeys: Injected[PasskeyService]
    ) -> PasskeysOut:
        """Oldest first."""
        listed = await passkeys.list(me.citizen_id)
        return PasskeysOut([PasskeyOut(p.id, p.created_at, p.last_used_at, p.assurance) for p in listed])

    @post(
        "/options",
        summary="WebAuthn creation options for a new passkey",
        status_code=200,
        responses=errors(400, 401, 403, 503),
    )
    async def options(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        accounts: Injected[AccountService],
        passkeys: Injected[PasskeyService],
    ) -> Response[dict[str, Any]]:
        """User verification and a discoverable credential are required; valid for 5 minutes, once.

        Needs a recent sign-in (403 ``reauthentication_required`` otherwise).
        """
        await require_recent_sign_in(request, me)
        name = await accounts.login_name(me.citizen_id) or "Bürgertresor"  # an account without a login name
        options = await passkeys.registration_options(me.citizen_id, name)
        return Response(msgspec.json.decode(options))

    @post(
        "/",
        summary="Register a passkey (the authenticator's response as JSON)",
        status_code=HTTP_201_CREATED,
        responses=errors(400, 401, 403, 413, 503),
    )
    async def register(self, request: Request[Any, Any, Any], me: Me, passkeys: Injected[PasskeyService]) -> PasskeyOut:
        """400 if the response does not verify (origin, challenge, signature, user verification).

        Needs a recent sign-in; the passkey gets this session's level, at most ``substantial``.
        """
        await require_recent_sign_in(request, me)
        body = await request.body()
        info = await passkeys.register(me.citizen_id, body.decode("utf-8", "replace"), session_assurance=me.assurance)
        return PasskeyOut(info.id, info.created_at, info.last_used_at, info.assurance)

    @delete(
        "/{passkey_id:str}",
        summary="Remove a passkey",
        status_code=HTTP_204_NO_CONTENT,
        responses=errors(400, 401, 403, 404, 503),
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        passkey_id: FromPath[str],
        passkeys: Injected[PasskeyService],
    ) -> None:
        """Another citizen's id answers 404. Needs a recent sign-in."""
        await require_recent_sign_in(request, me)
        await passkeys.remove(me.citizen_id, passkey_id)
