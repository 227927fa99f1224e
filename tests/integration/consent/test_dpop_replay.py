"""Every DPoP proof is accepted once, on every endpoint that takes one (issue 15, item 4).

The operations come from ``/schema/openapi.json`` (each one that takes a proof declares the
``DPoP`` header), so an endpoint added later is walked too; one this test does not know how to
call fails it instead of being skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tests.integration.consent.test_oauth_flow import TOKEN_URL, _agency, _citizen, _code, _token, _upload
from tests.support.web import BASE_URL, domain
from vault.audit.tables import RefusedRequest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from litestar.testing import AsyncTestClient

    from tests.support.agency import TestAgency
    from vault.config import Settings


def _takes_dpop(operation: dict[str, Any]) -> bool:
    return any(p.get("in") == "header" and p.get("name") == "DPoP" for p in operation.get("parameters", []))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    ]


async def test_the_schema_marks_every_agency_operation_and_the_token_endpoint_as_taking_dpop(
    web: AsyncTestClient[Any],
) -> None:
    document = (await web.get("/schema/openapi.json")).json()
    unmarked = [
        f"{method.upper()} {path}"
        for method, path, operation in _operations(document)
        if ("agency" in operation.get("tags", []) or path == "/oauth/token") and not _takes_dpop(operation)
    ]
    assert unmarked == []
    header = next(p for p in document["paths"]["/api/v1/data"]["get"]["parameters"] if p["name"] == "DPoP")
    assert header["required"] is True


async def test_every_operation_that_takes_a_dpop_proof_refuses_the_same_proof_twice(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated, access='access = "ongoing"')
    await _citizen(web, "replay@example.de")
    code, verifier = await _code(web, agency)
    issued = (await _token(web, agency, code, verifier)).json()
    token, refresh = issued["access_token"], issued["refresh_token"]
    values = {"document_id": await _upload(web)}
    document = (await web.get("/schema/openapi.json")).json()
    walked = []
    for method, path, operation in _operations(document):
        if not _takes_dpop(operation):
            continue
        send = _sender(web, agency, method, path, operation, values, token, refresh)
        proof = agency.dpop(method.upper(), BASE_URL + path.format(**values), None if path == "/oauth/token" else token)
        first = await send(proof)
        assert first.status_code == 200, f"{method.upper()} {path}: {first.text}"
        again = await send(proof)
        assert again.status_code == (400 if path == "/oauth/token" else 401), f"{method.upper()} {path}: replay served"
        assert again.json()["error"] == "invalid_dpop_proof"
        if path != "/oauth/token":
            assert again.headers["www-authenticate"] == 'DPoP error="invalid_dpop_proof"'
        walked.append(f"{method.upper()} {path}")
    assert {"GET /api/v1/data", "GET /api/v1/documents", "GET /api/v1/documents/{document_id}",
            "POST /oauth/token"} <= set(walked)  # fmt: skip
    async with domain(migrated) as runtime, runtime.sessions() as db:
        refused = (await db.execute(select(RefusedRequest.endpoint, RefusedRequest.reason))).all()
    assert sorted(refused) == sorted(
        (endpoint, "invalid_dpop_proof") for endpoint in ("data", "documents", "document")
    )  # each replay is noted for the auditors


def _sender(
    web: AsyncTestClient[Any],
    agency: TestAgency,
    method: str,
    path: str,
    operation: dict[str, Any],
    values: dict[str, str],
    token: str,
    refresh: str,
) -> Callable[[str], Awaitable[Any]]:
    """How to send a valid request to this operation with a given proof (fresh everything else)."""
    names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    assert names <= set(values), f"{method.upper()} {path}: teach this test the path parameters {names - set(values)}"
    url = path.format(**values)
    if method == "get" and "agency" in operation.get("tags", []):

        async def get(proof: str) -> Any:
            return await web.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof})

        return get
    if method == "post" and path == "/oauth/token":

        async def refresh_token(proof: str) -> Any:
            form = {"grant_type": "refresh_token", "refresh_token": refresh, **agency.auth()}  # a fresh assertion
            return await web.post(url, data=form, headers={"DPoP": proof})

        assert url == TOKEN_URL.removeprefix(BASE_URL)
        return refresh_token
    raise AssertionError(f"{method.upper()} {path} takes a DPoP proof: teach this test how to call it")
