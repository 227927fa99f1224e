"""The authorization server over HTTP (DESIGN.md §5).

Metadata, PAR, authorize/consent, token, revocation, introspection, JWKS. The logic is
:class:`vault.consent.server.AuthorizationServer`.

Errors about the client or the request URI are shown on the vault's own page and never redirected
(RFC 9700 §4.11.1); the consent decision goes back to the agency's registered redirect URI with
``iss`` (RFC 9207). Every other error answers as :mod:`vault.api.oauth_errors` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect

from vault.api import i18n
from vault.api.account_pages import ASSURANCE_LABELS
from vault.api.auth import SESSION_COOKIE
from vault.api.citizen_only import AuditorAccount, citizen_page, is_auditor_account
from vault.api.openapi import errors, form, oauth_errors, operation, page, page_or_error, redirect
from vault.api.render import N_, Form, page_session, render
from vault.api.security import CSP
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.citizens.passkeys import PasskeyService  # noqa: TC001  Litestar reads the annotations
from vault.citizens.sessions import SessionService, SignedIn
from vault.consent.authorize import DocumentsMissing
from vault.consent.catalogue import ASSURANCE_ORDER
from vault.consent.errors import InteractionRequired, InvalidRequest, OAuthError
from vault.consent.server import AuthorizationServer  # noqa: TC001  Litestar reads the annotations
from vault.crypto.signers import ReceiptSigner  # noqa: TC001  Litestar reads the annotations
from vault.identity.binding import IdentityBinding  # noqa: TC001  Litestar reads the annotations
from vault.identity.providers import Providers  # noqa: TC001  Litestar reads the annotations

if TYPE_CHECKING:
    from vault.consent.authorize import Pending

CONSENT, NOT_POSSIBLE = N_("Consent"), N_("This request cannot be processed")
STEP_UP = N_("A higher assurance level is needed")
Page = NamedDependency[SignedIn]
NO_STORE = {"Cache-Control": "no-store"}

_CLIENT_AUTH = {
    "client_id": "The agency's client id",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": "A private_key_jwt: a JWT signed with one of the agency's registered keys",
}
_AUTH_REQUIRED = ("client_assertion_type", "client_assertion")
PAR_FORM = form(
    {
        **_CLIENT_AUTH,
        "response_type": "code",
        "redirect_uri": "One of the agency's registered redirect URIs, exactly",
        "code_challenge": "PKCE S256 challenge",
        "code_challenge_method": "S256",
        "state": "Returned with the authorization response",
        "authorization_details": 'JSON: [{"type": "vault_access", "service": "…", "fields": […], "documents": […]}]',
    },
    ("response_type", "redirect_uri", "code_challenge", "code_challenge_method", *_AUTH_REQUIRED),
)
TOKEN_FORM = form(
    {
        **_CLIENT_AUTH,
        "grant_type": "authorization_code or refresh_token",
        "code": "The authorization code (authorization_code)",
        "code_verifier": "The PKCE verifier (authorization_code)",
        "redirect_uri": "The redirect URI of the request (authorization_code)",
        "refresh_token": "The refresh token (refresh_token)",
    },
    ("grant_type", *_AUTH_REQUIRED),
)
TOKEN_OF_CLIENT_FORM = form(
    {**_CLIENT_AUTH, "token": "An access or refresh token", "token_type_hint": "access_token or refresh_token"},
    ("token", *_AUTH_REQUIRED),
)


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The request's form fields (the first value of each); non-form bodies give an empty dict."""
    content_type, _ = request.content_type
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def _url(request: Request[Any, Any, Any], oauth: AuthorizationServer) -> str:
    """The URL the client called, as the issuer spells it (for DPoP ``htu``)."""
    return oauth.issuer + request.url.path


class OAuthController(Controller):
    """``/.well-known/oauth-authorization-server`` and ``/oauth/*``."""

    tags = ["oauth"]  # noqa: RUF012
    dependencies = {"me": Provide(page_session)}  # noqa: RUF012

    @get(
        "/.well-known/oauth-authorization-server",
        summary="Authorization server metadata (RFC 8414)",
        responses=errors(503),
    )
    async def metadata(self, oauth: Injected[AuthorizationServer]) -> Response[dict[str, Any]]:
        """What a client needs to know; FAPI 2.0 settings only."""
        issuer = oauth.issuer
        return Response(
            {
                "issuer": issuer,
                "pushed_authorization_request_endpoint": f"{issuer}/oauth/par",
                "authorization_endpoint": f"{issuer}/oauth/authorize",
                "token_endpoint": f"{issuer}/oauth/token",
                "revocation_endpoint": f"{issuer}/oauth/revoke",
                "introspection_endpoint": f"{issuer}/oauth/introspect",
                "jwks_uri": f"{issuer}/oauth/jwks",
                "require_pushed_authorization_requests": True,
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA", "PS256"],
                "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
                "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
                "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "PS256"],
                "authorization_details_types_supported": ["vault_access"],
                "authorization_response_iss_parameter_supported": True,
            },
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @get(
        "/oauth/jwks",
        summary="The vault's public signing keys (JWK Set)",
        media_type="application/jwk-set+json",
        responses=errors(503),
    )
    async def jwks(self, receipt_signer: Injected[ReceiptSigner]) -> Response[dict[str, Any]]:
        """Verifies consent receipts. Cacheable for an hour."""
        return Response(
            receipt_signer.jwks(),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @post(
        "/oauth/par",
        summary="Pushed authorization request (RFC 9126); private_key_jwt",
        status_code=201,
        responses={**oauth_errors(400, 401), **errors(413, 503)},
        operation_class=operation(request_body=PAR_FORM),
    )
    async def par(
        self, request: Request[Any, Any, Any], oauth: Injected[AuthorizationServer]
    ) -> Response[dict[str, Any]]:
        """201 with ``request_uri`` (single use, 90 s, bound to the client)."""
        body = await oauth.push(await _form(request))
        return Response(body, status_code=201, headers=NO_STORE)

    @get(
        "/oauth/authorize",
        summary="The consent page for a pushed request",
        media_type=MediaType.HTML,  # Redirect (to /login) takes the handler's, and knows only the bare one
        responses={
            **redirect("Not signed in: to /login, and back here afterwards"),
            **page(400, "The request cannot be processed (unknown client or request_uri); never redirected"),
            **page(403, "The service needs a stronger sign-in (passkey) first"),
            **errors(503),
        },
    )
    async def authorize(
        self,
        request: Request[Any, Any, Any],
        oauth: Injected[AuthorizationServer],
        session_service: Injected[SessionService],
        passkeys: Injected[PasskeyService],
        providers: Injected[Providers],
        binding: Injected[IdentityBinding],
    ) -> Response[Any]:
        """Sign-in first, step-up if the service asks for more, then the consent page."""
        client_id = request.query_params.get("client_id", "")
        request_uri = request.query_params.get("request_uri", "")
        try:
            pending = await oauth.pending(client_id, request_uri)
        except OAuthError as exc:
            return _not_possible(request, exc)
        me = await session_service.resolve(request.cookies.get(SESSION_COOKIE, ""))
        here = f"/oauth/authorize?client_id={quote(client_id, safe='')}&request_uri={quote(request_uri, safe='')}"
        if me is None:
            return Redirect(f"/login?next={quote(here, safe='')}", status_code=303)
        if await is_auditor_account(request, me.citizen_id):
            raise AuditorAccount
        if ASSURANCE_ORDER[me.assurance] < ASSURANCE_ORDER[pending.service.min_assurance]:
            highest = await passkeys.highest_assurance(me.citizen_id)
            needed = pending.service.min_assurance
            return render(
                request,
                "step_up.html",
                STEP_UP,
                403,
                me=me,
                csrf_token=me.csrf_token,
                login=f"/login?next={quote(here, safe='')}",
                service=pending.service,
                lang_code=i18n.choose(request)[0],
                reachable=ASSURANCE_ORDER[highest] >= ASSURANCE_ORDER[needed],
                passkey_enough=ASSURANCE_ORDER[needed] <= ASSURANCE_ORDER["substantial"],
                providers=await providers.enabled(),
                linked={provider_id for provider_id, _ in (await binding.confirmations(me.citizen_id)).values()},
                here=here,
                assurance_labels=ASSURANCE_LABELS,
                client_id=client_id,
                request_uri=request_uri,
            )
        return await _consent_page(request, oauth, me, pending, client_id, request_uri)

    @post(
        "/oauth/authorize",
        summary="The citizen's decision (approve or deny)",
        status_code=303,
        responses={
            **redirect("Back to the agency with a code or access_denied (and iss); to /login if not signed in"),
            **page(403, "The form expired (missing or wrong csrf_token); nothing changed"),
            **page(422, "Required documents are missing"),
            **errors(413, 503),
        },
        operation_class=operation(responses=page_or_error(400, "The request cannot be processed; never redirected")),
        dependencies={"me": Provide(citizen_page)},  # an auditor's account grants nothing
    )
    async def decide(
        self, request: Request[Any, Any, Any], me: Page, data: Form, oauth: Injected[AuthorizationServer]
    ) -> Response[Any]:
        """Approve: a grant, a code, back to the agency. Deny: ``access_denied`` back to the agency."""
        server = oauth
        client_id, request_uri = data.get("client_id", ""), data.get("request_uri", "")
        decision = data.get("decision")
        try:
            pending = await server.pending(client_id, request_uri)
            if decision not in {"approve", "deny"}:
                raise InvalidRequest("decision must be approve or deny")
            if decision == "approve" and ASSURANCE_ORDER[me.assurance] < ASSURANCE_ORDER[pending.service.min_assurance]:
                raise InteractionRequired("this service needs a sign-in at a higher assurance level")
            target = await server.decide(me.citizen_id, client_id, request_uri, approve=decision == "approve")
        except OAuthError as exc:
            return _not_possible(request, exc)
        except DocumentsMissing:
            pending = await server.pending(client_id, request_uri)
            message = N_("Please hand in the required documents first; this service does not accept them later.")
            return await _consent_page(request, server, me, pending, client_id, request_uri, 422, message)
        return Redirect(target, status_code=303)

    @post(
        "/oauth/token",
        summary="Token endpoint: authorization_code (PKCE) or refresh_token; DPoP required",
        status_code=200,
        responses={**oauth_errors(400, 401), **errors(413, 503)},
        operation_class=operation(request_body=TOKEN_FORM, dpop=True),
    )
    async def token(
        self, request: Request[Any, Any, Any], oauth: Injected[AuthorizationServer]
    ) -> Response[dict[str, Any]]:
        """DPoP-bound access token (≤ 300 s) and a refresh token bound to the grant and key."""
        body = await oauth.token(await _form(request), request.headers.get("dpop"), _url(request, oauth))
        return Response(body, status_code=200, headers=NO_STORE)

    @post(
        "/oauth/revoke",
        summary="Token revocation (RFC 7009)",
        status_code=200,
        responses={**oauth_errors(400, 401), **errors(413, 503)},
        operation_class=operation(request_body=TOKEN_OF_CLIENT_FORM),
    )
    async def revoke(
        self, request: Request[Any, Any, Any], oauth: Injected[AuthorizationServer]
    ) -> Response[dict[str, str]]:
        """200 whether or not the token was known."""
        await oauth.revoke(await _form(request))
        return Response({}, headers=NO_STORE)

    @post(
        "/oauth/introspect",
        summary="Token introspection (RFC 7662), own tokens only",
        status_code=200,
        responses={**oauth_errors(400, 401), **errors(413, 503)},
        operation_class=operation(request_body=TOKEN_OF_CLIENT_FORM),
    )
    async def introspect(
        self, request: Request[Any, Any, Any], oauth: Injected[AuthorizationServer]
    ) -> Response[dict[str, Any]]:
        """``{"active": false}`` for anything not the caller's, revoked or expired."""
        return Response(await oauth.introspect(await _form(request)), headers=NO_STORE)


def _not_possible(request: Request[Any, Any, Any], exc: OAuthError) -> Response[str]:
    """The vault's own error page: never a redirect to a URI we could not trust."""
    return render(request, "authorize_error.html", NOT_POSSIBLE, 400, error_code=exc.error, detail=exc.description)


async def _consent_page(
    request: Request[Any, Any, Any],
    oauth: AuthorizationServer,
    me: SignedIn,
    pending: Pending,
    client_id: str,
    request_uri: str,
    status: int = 200,
    error: str | None = None,
) -> Response[str]:
    lang, _ = i18n.choose(request)
    from vault.api.account_pages import HISTORY_LABELS

    service = pending.service
    required = {d.kind: d for d in service.documents}
    blocking, later = await oauth.missing_documents(me.citizen_id, pending)
    page = render(
        request,
        "consent.html",
        CONSENT,
        status,
        error=error,
        blocking=blocking,
        later=later,
        me=me,
        csrf_token=me.csrf_token,
        agency=pending.agency,
        service=service,
        title_text=service.title.get(lang),
        purpose_text=service.purpose.get(lang),
        fields=pending.request.fields,
        required_fields=set(service.fields),
        documents=[required[k] for k in pending.request.documents],
        client_id=client_id,
        request_uri=request_uri,
        **HISTORY_LABELS,
    )
    # The decision answers with a redirect to the agency: the form's CSP must allow that target,
    # browsers apply form-action to redirects after a form submission too.
    target = urlsplit(pending.request.redirect_uri)
    page.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}"
    )
    return page
