"""The authorization server's rules as pure functions: no I/O, no SQL, no clock (``now`` is passed in).

PKCE (RFC 7636, S256 only), the exact redirect URI match (RFC 9700 §4.1.1), the ``state`` limit, the
narrowing of ``authorization_details`` (RFC 9396) to the service's fields and documents, and what makes
a code, a refresh token or an access token usable. Each check raises the error from
:mod:`vault.consent.errors` the endpoint answers with, or returns what it found.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from vault.consent.errors import (
    InvalidAuthorizationDetails,
    InvalidDpopProof,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    UnsupportedGrantType,
    UnsupportedResponseType,
)
from vault.consent.grants import effective_status

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from datetime import datetime

    from vault.consent.catalogue import ServiceDefinition
    from vault.consent.grants import GrantRow
    from vault.consent.tables import Token

PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
MAX_STATE = 500
GRANT_TYPES = ("authorization_code", "refresh_token")
DETAILS_MEMBERS = frozenset({"type", "service", "fields", "documents"})


def check_response_type(response_type: str | None) -> None:
    """Only the authorization code flow: ``unsupported_response_type`` for anything else."""
    if response_type != "code":
        raise UnsupportedResponseType("response_type must be code")


def check_grant_type(grant_type: str | None) -> str:
    """The grant type if it is ``authorization_code`` or ``refresh_token``; ``unsupported_grant_type`` if not."""
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType("grant_type must be authorization_code or refresh_token")
    return grant_type


def check_redirect_uri(redirect_uri: str, registered: Collection[str]) -> None:
    """The redirect URI must be one the client registered, character for character (no normalising)."""
    if redirect_uri not in registered:
        raise InvalidRequest("redirect_uri is not registered for this client (exact match)")


def check_code_challenge(method: str | None, challenge: str) -> None:
    """PKCE with ``S256`` only, and a challenge that is a base64url SHA-256 digest (43 characters)."""
    if method != "S256":
        raise InvalidRequest("PKCE with code_challenge_method=S256 is required")
    if not PKCE_CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be the 43-character S256 challenge")


def check_state(state: str | None) -> None:
    """``state`` is optional and at most :data:`MAX_STATE` characters (it is stored and sent back)."""
    if state is not None and len(state) > MAX_STATE:
        raise InvalidRequest(f"state is longer than {MAX_STATE} characters")


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of a verifier: base64url of its SHA-256, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def pkce_matches(verifier: str, challenge: str) -> bool:
    """Whether ``verifier`` is a well-formed PKCE verifier (43-128 unreserved characters) for ``challenge``."""
    return bool(PKCE_VERIFIER.fullmatch(verifier)) and secrets.compare_digest(pkce_challenge(verifier), challenge)


def parse_authorization_details(raw: str | None) -> dict[str, Any]:
    """The single ``vault_access`` entry of ``authorization_details`` (RFC 9396), its shape checked."""
    if not raw:
        raise InvalidAuthorizationDetails("authorization_details is required")
    try:
        details = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidAuthorizationDetails("authorization_details is not JSON") from None
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
        raise InvalidAuthorizationDetails("exactly one authorization_details entry")
    entry: dict[str, Any] = details[0]
    if entry.get("type") != "vault_access" or not isinstance(entry.get("service"), str):
        raise InvalidAuthorizationDetails('type must be "vault_access" with a service id')
    for key in ("fields", "documents"):
        if key in entry and (not isinstance(entry[key], list) or not all(isinstance(v, str) for v in entry[key])):
            raise InvalidAuthorizationDetails(f"{key} must be a list of strings")
    unknown = set(entry) - DETAILS_MEMBERS
    if unknown:
        raise InvalidAuthorizationDetails(f"unknown members: {', '.join(sorted(unknown))}")
    return entry


def narrow(
    entry: dict[str, Any], service: ServiceDefinition, client_id: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(fields, documents)`` the entry asks of the client's ``service``: all of them, or fewer, each once."""
    if service.agency != client_id:
        raise InvalidAuthorizationDetails("this service belongs to another agency")
    fields = tuple(entry.get("fields", service.all_fields))
    documents = tuple(entry.get("documents", [d.kind for d in service.documents]))
    if not set(fields) <= set(service.all_fields) or len(set(fields)) != len(fields):
        raise InvalidAuthorizationDetails("fields may only narrow the service's fields")
    kinds = {d.kind for d in service.documents}
    if not set(documents) <= kinds or len(set(documents)) != len(documents):
        raise InvalidAuthorizationDetails("documents may only narrow the service's documents")
    return fields, documents


def missing_documents(
    service: ServiceDefinition, requested: Sequence[str], present: Collection[str]
) -> tuple[list[str], list[str]]:
    """``(blocking, later)`` of the requested kinds not ``present``: required ones that may not come later block."""
    rules = {d.kind: d for d in service.documents}
    absent = [k for k in requested if k not in present]
    blocking = [k for k in absent if rules[k].required and not rules[k].late_submission]
    return blocking, [k for k in absent if k not in blocking]


def redirect_to(uri: str, params: dict[str, str | None]) -> str:
    """``uri`` with the parameters that are set appended to its query."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def check_code(expires_at: datetime, redirect_uri: str, challenge: str, form: dict[str, str], now: datetime) -> None:
    """An unused code of this client: unexpired, and the token request's ``redirect_uri`` and PKCE verifier match."""
    if expires_at <= now:
        raise InvalidGrant("code expired")
    if form.get("redirect_uri") != redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    if not pkce_matches(form.get("code_verifier", ""), challenge):
        raise InvalidGrant("PKCE code_verifier does not match")


def check_refresh_token(row: Token | None, client_id: str, jkt: str) -> Token:
    """The client's unrevoked refresh token, presented with a proof by the key it is bound to."""
    if row is None or row.kind != "refresh" or row.client_id != client_id or row.revoked_at is not None:
        raise InvalidGrant("unknown or revoked refresh token")
    if row.jkt != jkt:
        raise InvalidGrant("refresh token is bound to another DPoP key")
    return row


def token_problem(
    row: Token | None, grant: GrantRow | None, agency_disabled: datetime | None, jkt: str, now: datetime
) -> InvalidToken | InvalidDpopProof | None:
    """Why an access token found as ``row`` (with its grant and agency) may not be used with a proof by ``jkt``."""
    if row is None or grant is None or row.kind != "access" or row.revoked_at is not None or row.expires_at <= now:
        return InvalidToken("unknown, revoked or expired access token")
    if row.client_id != grant.agency:  # cannot happen through this server; refuse rather than trust it
        return InvalidToken("unknown, revoked or expired access token")
    if row.jkt != jkt:
        return InvalidDpopProof("the proof is signed by another key than the token is bound to")
    if agency_disabled is not None:
        return InvalidToken("the agency is disabled")
    return None


def introspectable(row: Token, grant: GrantRow, client_id: str, now: datetime) -> bool:
    """Whether introspection says ``active``: the client's own unrevoked, unexpired token of an active grant."""
    return (
        row.client_id == client_id
        and row.revoked_at is None
        and row.expires_at > now
        and effective_status(grant, now) == "active"
    )


def details(grant: GrantRow) -> dict[str, Any]:
    """The ``authorization_details`` entry a grant stands for (token and introspection responses)."""
    return {
        "type": "vault_access",
        "service": grant.service,
        "fields": json.loads(grant.fields),
        "documents": json.loads(grant.documents),
    }
