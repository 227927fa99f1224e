"""Every OAuth/DPoP error answers with the status, headers and body it always had, at both kinds of endpoint.

The table is the wire as it was before the errors became classes: the authorization server's endpoints
(app-level handler) and the data API (``AgencyApi``'s handler, a resource server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from litestar import Controller, Litestar, get
from litestar.params import FromPath  # noqa: TC002  Litestar reads annotations at runtime
from litestar.testing import TestClient

from vault.api.agency import AgencyApi
from vault.api.errors import exception_handlers
from vault.api.oauth_errors import RESOURCE_STATUS, STATUS, oauth_error, resource_error
from vault.consent import errors
from vault.consent.errors import (
    USE_DPOP_NONCE,
    InsufficientScope,
    InteractionRequired,
    InvalidAuthorizationDetails,
    InvalidClient,
    InvalidDpopProof,
    InvalidGrant,
    InvalidRequest,
    InvalidRequestUri,
    InvalidToken,
    OAuthError,
    RequestNotSupported,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UseDpopNonce,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

NO_STORE = ("cache-control", "no-store")
ALGS = 'algs="ES256 EdDSA PS256"'
REFUSED = InvalidDpopProof("DPoP proof refused: htm does not match", refused="htm does not match")
QUOTED = InvalidDpopProof('DPoP proof refused: bad "x"', refused='bad "x"')
NONCE = UseDpopNonce("bm9uY2U")

#: (error, status, headers after Cache-Control) at the authorization server's endpoints.
AUTHORIZATION_SERVER = [
    (InvalidRequest("r"), 400, []),
    (RequestNotSupported("r"), 400, []),
    (UnsupportedResponseType("r"), 400, []),
    (InvalidAuthorizationDetails("r"), 400, []),
    (InvalidClient("r"), 401, []),
    (InvalidRequestUri("r"), 400, []),
    (InteractionRequired("r"), 400, []),
    (UnsupportedGrantType("r"), 400, []),
    (InvalidGrant("r"), 400, []),
    (InvalidDpopProof("a DPoP proof is required"), 400, []),
    (
        REFUSED,
        400,
        [("www-authenticate", f'DPoP error="invalid_dpop_proof", error_description="htm does not match", {ALGS}')],
    ),
    (QUOTED, 400, [("www-authenticate", f'DPoP error="invalid_dpop_proof", error_description="bad \'x\'", {ALGS}')]),
    (NONCE, 400, [("dpop-nonce", "bm9uY2U")]),
    (InvalidToken("r"), 401, []),
    (InsufficientScope("r"), 403, []),
]
#: The same at the data API.
DATA_API = [
    (InvalidToken("r"), 401, [("www-authenticate", 'DPoP error="invalid_token"')]),
    (
        InvalidDpopProof("DPoP proof jti was already used"),
        401,
        [("www-authenticate", 'DPoP error="invalid_dpop_proof"')],
    ),
    (
        REFUSED,
        401,
        [("www-authenticate", f'DPoP error="invalid_dpop_proof", error_description="htm does not match", {ALGS}')],
    ),
    (
        NONCE,
        401,
        [
            ("www-authenticate", f'DPoP error="use_dpop_nonce", error_description="{USE_DPOP_NONCE}"'),
            ("dpop-nonce", "bm9uY2U"),
        ],
    ),
    (InsufficientScope("r"), 403, [("www-authenticate", 'DPoP error="insufficient_scope"')]),
]
RAISED: dict[str, OAuthError] = {}


def _raise(key: str) -> None:
    raise RAISED[key]


@get("/as/{key:str}")
async def at_the_server(key: FromPath[str]) -> None:
    _raise(key)


class DataApi(Controller):
    path = "/api"
    exception_handlers = AgencyApi.exception_handlers

    @get("/{key:str}")
    async def read(self, key: FromPath[str]) -> None:
        _raise(key)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar([at_the_server, DataApi], exception_handlers=exception_handlers())
    with TestClient(app) as test_client:
        yield test_client


def _answer(client: TestClient[Litestar], path: str, exc: OAuthError) -> tuple[int, list[tuple[str, str]], object]:
    RAISED[str(id(exc))] = exc
    response = client.get(f"{path}/{id(exc)}")
    headers = [
        (k, v) for k, v in response.headers.multi_items() if k in {"cache-control", "www-authenticate", "dpop-nonce"}
    ]
    return response.status_code, headers, response.json()


@pytest.mark.parametrize(("exc", "status", "headers"), AUTHORIZATION_SERVER)
def test_the_authorization_server_answers_each_error_as_before(
    client: TestClient[Litestar], exc: OAuthError, status: int, headers: list[tuple[str, str]]
) -> None:
    body = {"error": exc.error, "error_description": exc.description}
    assert _answer(client, "/as", exc) == (status, [NO_STORE, *headers], body)


@pytest.mark.parametrize(("exc", "status", "headers"), DATA_API)
def test_the_data_api_answers_each_error_with_its_challenge_as_before(
    client: TestClient[Litestar], exc: OAuthError, status: int, headers: list[tuple[str, str]]
) -> None:
    body = {"error": exc.error, "error_description": exc.description}
    assert _answer(client, "/api", exc) == (status, [NO_STORE, *headers], body)


def test_every_error_class_has_a_status_at_both_kinds_of_endpoint() -> None:
    classes = {getattr(errors, name) for name in errors.__all__} - {OAuthError}
    assert set(OAuthError.__subclasses__()) == classes
    assert set(STATUS) == classes
    assert set(RESOURCE_STATUS) == classes
    assert len({c.error for c in classes}) == len(classes)  # one class per code


def test_the_handlers_are_wired_where_they_answer() -> None:
    assert exception_handlers()[OAuthError] is oauth_error
    assert AgencyApi.exception_handlers == {OAuthError: resource_error}
